package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/ddpm-runner/ddpm-runner/plugins/builtin"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// runCLI runs the runner in-process and returns its exit status and outputs.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"runner"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// quickSpec trains in a fraction of a second: tests use it with small step counts.
const quickSpec = `name = "quick"
seeds = [0]
[data]
name = "swissroll"
[schedule]
name = "linear"
T = 24
[network]
hidden = [16]
embed = 8
[train]
steps = 5
batch = 16
log_every = 1
checkpoint_every = 0
[sample]
n = 20
[eval]
metrics = ["frechet"]
n = 20
`

func TestScheduleCSVMatchesNumpyGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		T    int
	}{{"cosine", 50}, {"cosine", 1000}, {"cosine", 4000}, {"linear", 50}, {"linear", 1000}, {"linear", 4000}} {
		code, out, errOut := runCLI(t, "schedule", tc.name, "--T", strconv.Itoa(tc.T), "--format", "csv")
		if code != 0 {
			t.Fatalf("schedule %s: exit %d: %s", tc.name, code, errOut)
		}
		got := readCSV(t, strings.NewReader(out))
		f, err := os.Open(filepath.Join("testdata", tc.name+"_T"+strconv.Itoa(tc.T)+".csv.gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		want := readCSV(t, zr)
		f.Close()
		if strings.Join(got[0], ",") != strings.Join(scheduleColumns, ",") {
			t.Fatalf("header %v, want %v", got[0], scheduleColumns)
		}
		if len(got) != len(want) || len(got) != tc.T+1 {
			t.Fatalf("%s: %d rows, golden has %d, want %d", tc.name, len(got), len(want), tc.T+1)
		}
		for i := 1; i < len(want); i++ {
			for c := range want[i] {
				g, _ := strconv.ParseFloat(got[i][c], 64)
				w, _ := strconv.ParseFloat(want[i][c], 64)
				if g != w && math.Abs(g-w)/math.Max(math.Abs(g), math.Abs(w)) > 1e-12 {
					t.Fatalf("%s T=%d row %d column %s: %s, numpy gives %s", tc.name, tc.T, i-1, want[0][c], got[i][c], want[i][c])
				}
			}
		}
	}
}

func readCSV(t *testing.T, r io.Reader) [][]string {
	t.Helper()
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestBadSpecsExit2AndWriteNothing(t *testing.T) {
	dir := t.TempDir()
	binary := writeFile(t, dir, "binary.toml", "name = \"x\"\x00\x01\x02")
	cases := []struct {
		name    string
		spec    string   // written to <name>.toml unless file is set
		file    string   // a path to give instead
		extra   []string // extra arguments
		want    []string // substrings of the error
		line    int      // the line the error must name (0: none)
		keyWant string
	}{
		{name: "syntax", spec: "name = \"x\"\n[train]\nsteps = = 1\n", line: 3, want: []string{"TOML syntax error"}},
		{name: "unknown_table", spec: "[trian]\nsteps = 1\n", line: 1, want: []string{`unknown table "trian"`, `did you mean "train"`}},
		{name: "unknown_key", spec: "name = \"x\"\n[schedule]\nname = \"linear\"\nlr = 1\n", line: 4,
			want: []string{`unknown key "lr" in [schedule] (linear takes: T, zero_terminal_snr, beta_start, beta_end)`}},
		{name: "wrong_type", spec: "[train]\nsteps = \"many\"\n", line: 2, want: []string{`"steps"`, "want an integer"}},
		{name: "T_zero", spec: "[schedule]\nT = 0\n", line: 2, want: []string{`"T"`, "out of range"}},
		{name: "beta_range", spec: "[schedule]\nname = \"linear\"\nbeta_end = 1.5\n", line: 3, want: []string{`"beta_end"`, "out of range", "(0, 1)"}},
		{name: "lr_nonpositive", spec: "[train]\nlr = 0.0\n", line: 2, want: []string{`"lr"`, "out of range"}},
		{name: "unknown_plugin", spec: "[schedule]\nname = \"cosin\"\n", line: 2, want: []string{`unknown schedule "cosin"`, "registered:", `did you mean "cosine"`}},
		{name: "empty_sweep", spec: "[sweep]\n\"loss.name\" = []\n", line: 2, want: []string{`"loss.name"`, "empty"}},
		{name: "sweep_unknown_key", spec: "[sweep]\n\"schedule.foo\" = [1, 2]\n", line: 2, want: []string{`unknown key "foo" in [schedule]`}},
		{name: "sweep_bad_value", spec: "[schedule]\nname = \"linear\"\n[sweep]\n\"schedule.name\" = [\"linear\", \"nope\"]\n", line: 4, want: []string{`unknown schedule "nope"`}},
		{name: "duplicate_seeds", spec: "seeds = [1, 2, 1]\n", line: 1, want: []string{"seed 1 is listed twice"}},
		{name: "missing_file", file: filepath.Join(dir, "nope.toml"), want: []string{"nope.toml", "no such spec file"}},
		{name: "directory", file: dir, want: []string{"is a directory"}},
		{name: "binary", file: binary, want: []string{"binary.toml", "not a text file"}},
		{name: "set_unknown_key", spec: quickSpec, extra: []string{"--set", "train.lr2=1"}, want: []string{"--set train.lr2=1", `unknown key "lr2" in [train]`}},
		{name: "set_bad_value", spec: quickSpec, extra: []string{"--set", "train.steps=abc"}, want: []string{"--set train.steps=abc", "want an integer"}},
		{name: "bad_backend", spec: "backend = \"tpu\"\n", line: 1, want: []string{`"tpu" is not a backend`}},
		{name: "sampler_steps", spec: quickSpec + "", extra: []string{"--set", "sample.name=respaced", "--set", "sample.steps=50"}, want: []string{"respaced", "cannot take 50 steps out of T = 24"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.file
			if path == "" {
				path = writeFile(t, dir, tc.name+".toml", tc.spec)
			}
			db := filepath.Join(dir, tc.name+".db")
			args := append([]string{"run", "--db", db, path}, tc.extra...)
			code, _, errOut := runCLI(t, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, errOut)
			}
			if !strings.Contains(errOut, path) {
				t.Errorf("error does not name the file %s: %s", path, errOut)
			}
			if tc.line > 0 && !strings.Contains(errOut, path+":"+strconv.Itoa(tc.line)+":") {
				t.Errorf("error does not name line %d: %s", tc.line, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error lacks %q: %s", w, errOut)
				}
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("database %s was created by a failed command", db)
			}
		})
	}
}

func TestDryRunResolvesSweepAndSeedsAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "sweep.toml", quickSpec+"[sweep]\n\"schedule.name\" = [\"linear\", \"cosine\"]\n\"loss.name\" = [\"simple\", \"hybrid\"]\n")
	db := filepath.Join(dir, "runs.db")
	code, out, errOut := runCLI(t, "run", spec, "--db", db, "--dry-run", "--set", "seeds=[0, 1, 2]", "--set", "schedule.T=30")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "# trial "); n != 12 {
		t.Errorf("%d trials, want 2 schedules x 2 losses x 3 seeds = 12\n%s", n, out)
	}
	if !strings.Contains(out, "T = 30") || strings.Contains(out, "T = 24") {
		t.Errorf("--set schedule.T=30 not applied:\n%s", out)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Error("--dry-run created the database")
	}
}

func TestRunRecordsAndReportShowsIt(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "sub", "runs.db")
	code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "seeds=[3, 4]")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "report", "--db", db, "--format", "json")
	if code != 0 {
		t.Fatalf("report exit %d: %s", code, errOut)
	}
	var runs []struct {
		ID        int64              `json:"id"`
		Spec      string             `json:"spec"`
		Status    string             `json:"status"`
		Seed      int                `json:"seed"`
		Params    map[string]string  `json:"params"`
		Summaries map[string]float64 `json:"summaries"`
		Env       map[string]string  `json:"env"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("report json: %v\n%s", err, out)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	for i, r := range runs {
		if r.Spec != "quick" || r.Status != "finished" || r.Seed != 3+i {
			t.Errorf("run %+v, want spec quick, finished, seed %d", r, 3+i)
		}
		if r.Params["schedule.T"] != "24" || r.Params["train.steps"] != "5" {
			t.Errorf("params %v lack the resolved values", r.Params)
		}
		if _, ok := r.Summaries["frechet"]; !ok {
			t.Errorf("summaries %v lack frechet", r.Summaries)
		}
		for _, k := range []string{"go.version", "os", "arch", "cpu.model", "backend"} {
			if r.Env[k] == "" {
				t.Errorf("provenance lacks %s: %v", k, r.Env)
			}
		}
	}
	code, out, _ = runCLI(t, "report", "--db", db)
	if code != 0 || !strings.Contains(out, "quick") || !strings.Contains(out, "finished") {
		t.Errorf("table report (exit %d):\n%s", code, out)
	}
}

func TestReportOnMissingDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	code, _, errOut := runCLI(t, "report", "--db", db)
	if code != 2 || !strings.Contains(errOut, "no results database") {
		t.Errorf("exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Error("report created a database")
	}
}

func TestPluginsListsSchedulesWithParams(t *testing.T) {
	code, out, _ := runCLI(t, "plugins", "schedule")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"linear", "cosine", "quadratic", "sigmoid", "const", "jsd", "warmup",
		"beta_start", "max_beta", "fraction", "default 0.008", "(0, 1)", "T "} {
		if !strings.Contains(out, want) {
			t.Errorf("plugins output lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut := runCLI(t, "plugins", "nonsense")
	if code != 2 || !strings.Contains(errOut, "unknown plugin kind") {
		t.Errorf("unknown kind: exit %d %s", code, errOut)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.Contains(out, "gomlx") || !strings.Contains(out, "backend  go: pure Go, available") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
	if k := backend.KernelName(backend.DefaultKernel); !strings.Contains(out, "matmul   "+k+"\n") {
		t.Errorf("version does not name the matmul kernel (%s):\n%s", k, out)
	}
	code, out, _ = runCLI(t, "version", "--fast-matmul=false")
	if code != 0 || !strings.Contains(out, "matmul   gomlx-stock (fast matmul turned off)") {
		t.Errorf("version --fast-matmul=false: exit %d\n%s", code, out)
	}
	for _, cmd := range []string{"run", "report", "plugins", "schedule", "version"} {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != 0 || !strings.Contains(out, "USAGE") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, out)
		}
	}
	if code, _, _ := runCLI(t, "run", "--no-such-flag", "x.toml"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

func TestXLAWithoutPluginIsAClearError(t *testing.T) {
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	code, _, errOut := runCLI(t, "run", spec, "--db", filepath.Join(dir, "x.db"), "--backend", "xla:cpu")
	if code != 2 || !strings.Contains(errOut, "PJRT plugin") || !strings.Contains(errOut, "never downloads") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// runner version lists the go backend and, for xla:cuda with no plugin to be found, says so
// and where it looked; a plugin in a site-packages tree is listed with its wheel.
func TestVersionListsBackends(t *testing.T) {
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	t.Setenv("LD_LIBRARY_PATH", "")
	t.Setenv("DDPM_SITE_PACKAGES", t.TempDir())
	code, out, errOut := runCLI(t, "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"backend  go: pure Go, available", "backend  xla:cuda: unusable: no cuda PJRT plugin found (searched "} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	t.Setenv("DDPM_SITE_PACKAGES", filepath.Join("..", "internal", "pjrtplugin", "testdata", "site-packages"))
	_, out, _ = runCLI(t, "version")
	if !strings.Contains(out, "xla_cuda13/xla_cuda_plugin.so (python site-packages, jax-cuda13-pjrt 0.11.2)") {
		t.Errorf("version does not list the site-packages plugin:\n%s", out)
	}
}

func TestShippedSpecsResolve(t *testing.T) {
	specs, _ := filepath.Glob(filepath.Join("..", "experiments", "*.toml"))
	if len(specs) < 3 {
		t.Fatalf("found %d specs in experiments/", len(specs))
	}
	for _, s := range specs {
		code, out, errOut := runCLI(t, "run", "--dry-run", s)
		if code != 0 || !strings.Contains(out, "nothing was written") {
			t.Errorf("%s: exit %d: %s", s, code, errOut)
		}
	}
}

// TestQuickSpecEndToEnd runs the shipped smoke-test spec through the CLI: train with
// checkpoints, respaced sampling, every 2-D metric, artifacts.
func TestQuickSpecEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	code, _, errOut := runCLI(t, "run", "-q", filepath.Join("..", "experiments", "quick_2d.toml"), "--db", db)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, out, _ := runCLI(t, "report", "--db", db, "--format", "json")
	var runs []struct {
		Status    string             `json:"status"`
		Summaries map[string]float64 `json:"summaries"`
		Timings   map[string]float64 `json:"timings"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil || code != 0 || len(runs) != 1 {
		t.Fatalf("report: %v %d\n%s", err, code, out)
	}
	r := runs[0]
	for _, k := range []string{"nll_nats_per_dim", "frechet", "mmd", "chamfer", "final_loss", "steps_per_sec", "samples_per_sec"} {
		if v, ok := r.Summaries[k]; !ok || math.IsNaN(v) {
			t.Errorf("summary %s missing or NaN: %v", k, r.Summaries)
		}
	}
	for _, k := range []string{"train", "sample", "metric.nll"} {
		if r.Timings[k] <= 0 {
			t.Errorf("timing %s missing: %v", k, r.Timings)
		}
	}
	for _, f := range []string{"samples.csv", "samples.png", "checkpoint"} {
		if _, err := os.Stat(filepath.Join(dir, "runs", "1", f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		}
	}
}

func TestBadImageFoldersExit2(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	corrupt := filepath.Join(dir, "corrupt")
	for _, d := range []string{empty, corrupt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, corrupt, "broken.png", "this is not a PNG")
	for _, c := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nowhere"), "nowhere"},
		{"empty", empty, "no .png, .jpg or .jpeg files"},
		{"corrupt", corrupt, "broken.png"},
	} {
		spec := writeFile(t, dir, c.name+".toml", quickSpec+"")
		db := filepath.Join(dir, c.name+".db")
		code, _, errOut := runCLI(t, "run", spec, "--db", db, "--set", "data.name=images", "--set", "data.path="+strconv.Quote(c.path))
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, %s", c.name, code, errOut)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("%s: a database was created", c.name)
		}
	}
}

func TestRerunVerifyAndResume(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "train.steps=40"); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "rerun", "1", "--verify", "-q", "--db", db)
	if code != 0 || strings.TrimSpace(out) != "identical" {
		t.Fatalf("rerun --verify: exit %d, %q, %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "report", "--db", db, "--format", "json")
	if !strings.Contains(out, `"rerun.verdict": "identical"`) {
		t.Errorf("verdict not stored:\n%s", out)
	}
	// A finished run cannot be resumed.
	code, _, errOut = runCLI(t, "resume", "1", "--db", db)
	if code != 2 || !strings.Contains(errOut, "is finished") {
		t.Errorf("resume of a finished run: exit %d, %s", code, errOut)
	}
	for _, line := range strings.Split(errOut, "\n") {
		if strings.TrimSpace(line) == "runner:" {
			t.Errorf("an empty %q line in %q", line, errOut)
		}
	}
	// The refusal changed nothing.
	if s, err := results.OpenReadOnly(db); err != nil {
		t.Error(err)
	} else {
		if r, err := s.Run(1); err != nil || r.Status != results.StatusFinished || len(r.Summaries) == 0 {
			t.Errorf("run 1 after a refused resume: %v %+v", err, r)
		}
		s.Close()
	}
	if code, _, errOut := runCLI(t, "rerun", "99", "--db", db); code != 2 || !strings.Contains(errOut, "no run with id 99") {
		t.Errorf("rerun of a missing run: exit %d, %s", code, errOut)
	}
}

func TestVerifyReportsAlteredLoss(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Exec("UPDATE metrics SET value = value + 1e-9 WHERE run_id = 1 AND key = 'loss' AND step = 3"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	code, out, _ := runCLI(t, "rerun", "1", "--verify", "-q", "--db", db)
	if code != 1 || !strings.Contains(out, "differs: loss at step 3") {
		t.Errorf("exit %d, %q: want the altered step reported", code, out)
	}
}

// TestReportEscapesNames: spec names and params with HTML and SQL metacharacters are
// stored, filtered and shown verbatim, and escaped in HTML.
func TestReportEscapesNames(t *testing.T) {
	dir := t.TempDir()
	nasty := `x'); DROP TABLE runs; -- <script>alert(1)</script>`
	spec := writeFile(t, dir, "nasty.toml", strings.Replace(quickSpec, `name = "quick"`, "name = "+strconv.Quote(nasty), 1))
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "report", "--db", db, "--spec", nasty, "--format", "json")
	if code != 0 || !strings.Contains(out, `DROP TABLE`) {
		t.Fatalf("filter by a nasty name: exit %d %s %s", code, out, errOut)
	}
	html := filepath.Join(dir, "report.html")
	if code, _, errOut := runCLI(t, "report", "--db", db, "--format", "html", "--out", html); code != 0 {
		t.Fatalf("html: %d %s", code, errOut)
	}
	page, _ := os.ReadFile(html)
	if strings.Contains(string(page), "<script>alert(1)</script>") || !strings.Contains(string(page), "&lt;script&gt;") {
		t.Error("the name is not escaped in the html page")
	}
	if code, out, _ := runCLI(t, "report", "--db", db, "--format", "csv"); code != 0 || !strings.Contains(out, "group,spec") {
		t.Errorf("csv after a nasty name: %d %s", code, out)
	}
}

// TestReportFormatsParseAndRender checks every format on a small database; the HTML page is
// opened in headless Chromium when it is installed (.ci/run installs Debian's chromium).
func TestReportFormatsParseAndRender(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "two.toml", quickSpec+"[sweep]\n\"schedule.name\" = [\"linear\", \"cosine\"]\n")
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "seeds=[0, 1]"); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	_, out, _ := runCLI(t, "report", "--db", db, "--format", "json", "--view", "groups")
	var groups []map[string]any
	if err := json.Unmarshal([]byte(out), &groups); err != nil || len(groups) != 2 {
		t.Fatalf("groups json: %v (%d groups)\n%s", err, len(groups), out)
	}
	_, out, _ = runCLI(t, "report", "--db", db, "--format", "csv")
	rows := readCSV(t, strings.NewReader(out))
	if len(rows) < 3 || rows[0][3] != "metric" {
		t.Fatalf("csv: %v", rows)
	}
	html := filepath.Join(dir, "report.html")
	if code, _, errOut := runCLI(t, "report", "--db", db, "--format", "html", "--out", html); code != 0 {
		t.Fatalf("html: %d %s", code, errOut)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium); the HTML page was written but not rendered")
	}
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}
	dom, err := exec.Command(chromium, append(args, "--dump-dom", "file://"+html)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if !strings.Contains(string(dom), `<table class="cmp">`) || !strings.Contains(string(dom), "<img src=\"data:image/png;base64,") {
		t.Error("the rendered page lacks the table or a figure")
	}
	shot := filepath.Join(dir, "shot.png")
	if err := exec.Command(chromium, append(args, "--screenshot="+shot, "--window-size=1200,1600", "file://"+html)...).Run(); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot %v %v", st, err)
	}
}

// TestMatmulKernelIsRecordedAndFollowedByRerun runs with the stock kernel, checks that the
// run says so, and that rerun --verify (with the fast kernel asked for by default) switches
// to the recorded kernel and reproduces the run bit for bit; then that the two kernels give
// different bits, so the check above could fail.
func TestMatmulKernelIsRecordedAndFollowedByRerun(t *testing.T) {
	t.Setenv(backend.KernelEnvVar, "1") // the fast kernel is asked for by default
	if k := backend.KernelName(backend.DefaultKernel); !strings.HasPrefix(k, "fastdot") {
		t.Skipf("no fast kernel here: %s", k)
	}
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", "-q", spec, "--db", db, "--set", "train.steps=40", "--fast-matmul=false"); code != 0 {
		t.Fatalf("run: %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "rerun", "1", "--verify", "-q", "--db", db)
	if code != 0 || strings.TrimSpace(out) != "identical" || !strings.Contains(errOut, "used GoMLX's stock matmul kernel; using it again") {
		t.Fatalf("rerun --verify of a stock-kernel run: exit %d, %q, %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "rerun", "1", "--verify", "-q", "--db", db, "--fast-matmul")
	if code != 1 || !strings.Contains(out, "differs") {
		t.Fatalf("rerun --verify --fast-matmul of a stock-kernel run: exit %d, %q, %s", code, out, errOut)
	}
	_, out, _ = runCLI(t, "report", "--db", db, "--format", "json")
	if !strings.Contains(out, `"matmul": "gomlx-stock (fast matmul turned off)"`) || !strings.Contains(out, `"matmul": "fastdot `) {
		t.Errorf("the runs' matmul kernels are not recorded:\n%s", out)
	}
}
