package cli

import (
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
