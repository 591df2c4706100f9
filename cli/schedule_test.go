package cli

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// TestScheduleShowsTheRunsProcess: runner schedule prints the process that a run with the
// same [schedule] trains on, shared keys included (zero_terminal_snr rescales the betas to
// end at alpha_bar_T = 0), because both resolve the keys as a spec and derive the process in
// one place.
func TestScheduleShowsTheRunsProcess(t *testing.T) {
	code, out, errOut := runCLI(t, "schedule", "cosine", "--T", "50", "--set", "zero_terminal_snr=true", "--format", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows := readCSV(t, strings.NewReader(out))
	trials, err := spec.Parse("run.toml", []byte("[schedule]\nname = \"cosine\"\nT = 50\nzero_terminal_snr = true\n[predictor]\nname = \"v\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	job, err := engine.Prepare(trials[0])
	if err != nil {
		t.Fatal(err)
	}
	p := job.Diffusion.Process
	if len(rows) != p.T+1 {
		t.Fatalf("%d rows, want %d", len(rows)-1, p.T)
	}
	for i, row := range rows[1:] {
		for c, want := range scheduleRow(p, i) {
			if got, _ := strconv.ParseFloat(row[c+1], 64); got != want {
				t.Fatalf("t=%d %s: schedule prints %s, the run has %.17g", i, scheduleColumns[c+1], row[c+1], want)
			}
		}
	}
	if last := rows[len(rows)-1]; last[2] != "0" {
		t.Errorf("zero_terminal_snr: alpha_bar_T = %s, want 0", last[2])
	}
}

// TestScheduleTakesEveryScheduleKey: every key a schedule takes, the shared ones and its own,
// is accepted by --set (bare or as schedule.KEY) and at its default changes nothing; keys of
// other tables and unknown keys are refused with the spec's messages.
func TestScheduleTakesEveryScheduleKey(t *testing.T) {
	info, _ := plugins.Info(plugins.KindSchedule)
	for _, name := range plugins.Names(plugins.KindSchedule) {
		_, plain, errOut := runCLI(t, "schedule", name, "--T", "30", "--format", "csv")
		p, _ := plugins.Lookup(plugins.KindSchedule, name)
		for i, d := range append(append([]plugins.Param{}, info.Common...), p.Params...) {
			if d.Name == "T" {
				continue
			}
			key := d.Name
			if i%2 == 1 {
				key = "schedule." + key
			}
			code, out, errOut2 := runCLI(t, "schedule", name, "--T", "30", "--format", "csv", "--set", key+"="+spec.FormatValue(d.Default))
			if code != 0 || out != plain {
				t.Errorf("%s --set %s=%v: exit %d (%s); output same as without: %v (%s)", name, key, d.Default, code, errOut2, out == plain, errOut)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"linear", "--set", "train.steps=3"}, "takes [schedule] keys only"},
		{[]string{"linear", "--set", "betta_end=0.01"}, `unknown key "betta_end" in [schedule]`},
		{[]string{"linear", "--set", "zero_terminal_snr=yes"}, `key "zero_terminal_snr" in [schedule]: want true or false`},
		{[]string{"linear", "--T", "10", "--set", "T=20"}, "give it once"},
		{[]string{"linear", "--T", "0"}, "want T >= 1"},
		{[]string{"linear", "--set", "T=200000"}, `key "T" in [schedule]: value 200000 out of range`},
		{[]string{"cosin"}, `did you mean "cosine"`},
	} {
		code, _, errOut := runCLI(t, append([]string{"schedule"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("schedule %v: exit %d, %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestScheduleStepsPrintsTheRespacedChain: with --steps K the command prints the chain a run
// with [sample] name = "respaced" and that spacing samples with (the engine's plan), the kept
// timesteps improved-diffusion keeps, their original alpha_bar and the respaced betas; bad
// --steps and --spacing exit 2 naming the flag.
func TestScheduleStepsPrintsTheRespacedChain(t *testing.T) {
	for _, c := range []struct {
		spacing string
		k       int
		at      map[int]int // step i -> kept timestep t
	}{
		{"", 25, map[int]int{0: 0, 4: 166, 20: 832, 24: 999}}, // linspace, the default
		{"leading", 10, map[int]int{0: 0, 9: 900}},
		{"trailing", 10, map[int]int{0: 99, 9: 999}},
	} {
		args := []string{"schedule", "linear", "--T", "1000", "--steps", strconv.Itoa(c.k), "--format", "csv"}
		if c.spacing != "" {
			args = append(args, "--spacing", c.spacing)
		}
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		rows := readCSV(t, strings.NewReader(out))
		if strings.Join(rows[0], ",") != strings.Join(respacedColumns, ",") || len(rows) != c.k+1 {
			t.Fatalf("%v: header %v and %d rows", args, rows[0], len(rows)-1)
		}
		src := "[schedule]\nname = \"linear\"\nT = 1000\n[sample]\nname = \"respaced\"\nsteps = " + strconv.Itoa(c.k) + "\n"
		if c.spacing != "" {
			src += "spacing = \"" + c.spacing + "\"\n"
		}
		trials, err := spec.Parse("run.toml", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		job, err := engine.Prepare(trials[0])
		if err != nil {
			t.Fatal(err)
		}
		q, ts, orig := job.SampleProcess, job.SampleTimesteps, job.Diffusion.Process
		for i, row := range rows[1:] {
			if row[0] != strconv.Itoa(i) || row[1] != strconv.Itoa(ts[i]) {
				t.Fatalf("%v row %d: i=%s t=%s, the run visits t=%d", args, i, row[0], row[1], ts[i])
			}
			for col, want := range scheduleRow(q, i) {
				if got, _ := strconv.ParseFloat(row[col+2], 64); got != want {
					t.Fatalf("%v row %d %s: %s, the run's chain has %.17g", args, i, respacedColumns[col+2], row[col+2], want)
				}
			}
			// The respaced process derives alpha_bar again as a product of its betas (as
			// improved-diffusion's SpacedDiffusion does), so it keeps the original to rounding.
			if ab, _ := strconv.ParseFloat(row[3], 64); math.Abs(ab-orig.AlphaBar[ts[i]]) > 1e-12*orig.AlphaBar[ts[i]] {
				t.Errorf("%v row %d: alpha_bar %s, the original chain has %.17g at t=%d", args, i, row[3], orig.AlphaBar[ts[i]], ts[i])
			}
		}
		for i, want := range c.at {
			if rows[i+1][1] != strconv.Itoa(want) {
				t.Errorf("%v: step %d keeps t=%s, want %d", args, i, rows[i+1][1], want)
			}
		}
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--steps", "0"}, "--steps 0"},
		{[]string{"--steps", "1001"}, "--steps 1001"},
		{[]string{"--steps", "10", "--spacing", "karras"}, "--spacing karras"},
		{[]string{"--steps", "999", "--spacing", "ddim"}, "no integer stride"},
		{[]string{"--spacing", "leading"}, "give --steps K too"},
	} {
		code, _, errOut := runCLI(t, append([]string{"schedule", "linear", "--T", "1000"}, bad.args...)...)
		if code != 2 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", bad.args, code, errOut, bad.want)
		}
	}
}
