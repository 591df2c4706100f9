package cli

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/internal/fastdot"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// crossSets make quickSpec log 40 steps and end with the bound, on the cosine schedule.
var crossSets = []string{"--set", "train.steps=40", "--set", `eval.metrics=["nll"]`, "--set", "network.hidden=[32, 32]",
	"--set", "schedule.name=cosine"}

// crossSpecSets are crossSets for loadJobs.
var crossSpecSets = []string{"train.steps=40", `eval.metrics=["nll"]`, "network.hidden=[32, 32]", "schedule.name=cosine"}

type crossReport struct {
	A, B string
	Rows []agreement
}

func crosscheck(t *testing.T, args ...string) (int, crossReport, string) {
	t.Helper()
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	code, out, errOut := runCLI(t, append(append([]string{"crosscheck", spec, "--quiet", "--format", "json"}, crossSets...), args...)...)
	var rep crossReport
	if code == 0 || strings.Contains(out, "rows") {
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("crosscheck output is not JSON: %v\n%s\n%s", err, out, errOut)
		}
	}
	return code, rep, errOut
}

// The same backend twice agrees exactly, on every compared quantity.
func TestCrosscheckSameBackendAgreesExactly(t *testing.T) {
	code, rep, errOut := crosscheck(t, "--backend", "go", "--against", "go")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(rep.Rows) != earlySteps+2 {
		t.Fatalf("%d rows, want %d losses, the final loss and the bound: %+v", len(rep.Rows), earlySteps, rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.RelDiff != 0 || !r.OK || r.A == 0 {
			t.Errorf("%s: %v vs %v (relative difference %g)", r.Quantity, r.A, r.B, r.RelDiff)
		}
	}
}

// compareRuns on two float32 implementations of the same step (the fast and the stock
// matmul kernel sum in different orders): they differ, and within the tolerances.
func TestCompareRunsOnTwoKernels(t *testing.T) {
	if !fastdot.Active() {
		t.Skip("the fast kernel is off")
	}
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	store, err := results.Open(filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	defer fastdot.SetEnabled(fastdot.Wanted()) // as this process wants it, after the loop's switching
	var ids []int64
	for _, fast := range []bool{true, false} {
		fastdot.SetEnabled(fast)
		jobs, err := loadJobs([]string{spec}, crossSpecSets, "go", nil)
		if err != nil {
			t.Fatal(err)
		}
		out := engine.Run(t.Context(), jobs[0], engine.Options{Store: store})
		if out.Status != results.StatusFinished {
			t.Fatalf("%s: %v", out.Status, out.Err)
		}
		ids = append(ids, out.RunID)
	}
	rows, err := compareRuns(store, ids[0], ids[1])
	if err != nil {
		t.Fatal(err)
	}
	differ := false
	for _, r := range rows {
		differ = differ || r.RelDiff > 0
		if !r.OK {
			t.Errorf("%s: %v vs %v, relative difference %.3g beyond %.3g", r.Quantity, r.A, r.B, r.RelDiff, r.Tolerance)
		}
	}
	if !differ {
		t.Errorf("the two kernels gave identical numbers: the test does not exercise rounding differences")
	}
	// A real change is caught: the same comparison against a run with another seed.
	jobs, err := loadJobs([]string{spec}, append(crossSpecSets, "seeds=[1]"), "go", nil)
	if err != nil {
		t.Fatal(err)
	}
	other := engine.Run(t.Context(), jobs[0], engine.Options{Store: store})
	rows, err = compareRuns(store, ids[0], other.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].OK {
		t.Errorf("another seed's first loss %v agrees with %v within %g", rows[0].B, rows[0].A, rows[0].Tolerance)
	}
}

// The check this command exists for runs where a CUDA plugin and GPU are; elsewhere it skips.
func TestCrosscheckXLACUDAAgainstGo(t *testing.T) {
	if err := engine.CheckBackend("xla:cuda"); err != nil {
		t.Skipf("no xla:cuda here, so the cross-backend agreement is not measured: %v", err)
	}
	t.Setenv("NVIDIA_TF32_OVERRIDE", "0")
	code, rep, errOut := crosscheck(t, "--backend", "xla:cuda", "--against", "go")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%+v", code, errOut, rep.Rows)
	}
}

func TestNewAgreement(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		a, b, rel float64
		ok        bool
	}{
		{2, 2, 0, true}, {nan, nan, 0, true}, {2, 2.0001, 5e-5, true}, {2, 2.01, 5e-3, false},
		{2, nan, math.Inf(1), false}, {nan, 2, math.Inf(1), false}, {0, 1e-40, 1e-10, true},
	} {
		g := newAgreement("x", c.a, c.b, 1e-4)
		if math.Abs(g.RelDiff-c.rel) > 1e-9*math.Max(1, c.rel) && !(math.IsInf(c.rel, 1) && math.IsInf(g.RelDiff, 1)) || g.OK != c.ok {
			t.Errorf("newAgreement(%v, %v) = %g ok %v, want %g ok %v", c.a, c.b, g.RelDiff, g.OK, c.rel, c.ok)
		}
		if _, err := json.Marshal(g); err != nil {
			t.Errorf("newAgreement(%v, %v) does not marshal: %v", c.a, c.b, err)
		}
	}
}

// runner run --add-seeds N runs N more seeds after the spec's and leaves the finished ones.
func TestAddSeeds(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	for _, args := range [][]string{{"run", spec, "--db", db, "-q"}, {"run", spec, "--db", db, "-q", "--add-seeds", "2"}} {
		if code, _, errOut := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	store, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runs, _ := store.Runs(results.Filter{})
	var seeds []int
	for _, r := range runs {
		seeds = append(seeds, r.Seed)
	}
	if len(runs) != 3 || seeds[0] != 0 || seeds[1] != 1 || seeds[2] != 2 {
		t.Errorf("runs by seed %v, want 0 (the first run, not repeated), 1 and 2", seeds)
	}
	if code, _, errOut := runCLI(t, "run", spec, "--db", db, "--add-seeds", "-1"); code != 2 {
		t.Errorf("--add-seeds -1: exit %d %s", code, errOut)
	}
}

// report --diff on the command line: two groups of a sweep, by hash prefix; bad prefixes
// and stray arguments are usage errors.
func TestReportDiffCommand(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "quick.toml", quickSpec+"\n[sweep]\n\"train.lr\" = [1e-3, 3e-3]\n")
	db := filepath.Join(dir, "runs.db")
	if code, _, errOut := runCLI(t, "run", spec, "--db", db, "-q", "--set", "seeds=[0, 1, 2]", "--set", "schedule.name=cosine",
		"--set", `eval.metrics=["frechet", "nll"]`); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, out, _ := runCLI(t, "report", "--db", db, "--format", "json", "--view", "groups")
	var groups []struct {
		Hash string `json:"group_hash"`
	}
	if err := json.Unmarshal([]byte(out), &groups); code != 0 || err != nil || len(groups) != 2 {
		t.Fatalf("groups: exit %d, %v, %s", code, err, out)
	}
	code, out, errOut := runCLI(t, "report", "--db", db, "--diff", groups[0].Hash[:6], groups[1].Hash[:6], "--format", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) == 0 {
		t.Fatalf("--diff: exit %d, %v, %s %s", code, err, out, errOut)
	}
	sawBound := false
	for _, r := range rows {
		if r["metric"] == "frechet" && (r["n_pairs"] != 3.0 || r["comparable"] != true || r["verdict"] == "") {
			t.Errorf("frechet row %v", r)
		}
		if r["metric"] == "nll_nats_per_dim" {
			// The bound is also resampled over the 20 held-out examples the runs kept.
			bs, _ := r["bootstrap_over_examples"].(map[string]any)
			if bs == nil || bs["examples"] != 20.0 || bs["ci_low"].(float64) > bs["ci_high"].(float64) ||
				!strings.Contains(r["verdict"].(string), "over the 20 held-out examples (bootstrap)") {
				t.Errorf("nll row %v", r)
			}
			sawBound = true
		}
	}
	if !sawBound {
		t.Error("no nll_nats_per_dim row")
	}
	for _, args := range [][]string{{"--diff", "zzzz", groups[1].Hash[:6]}, {"--diff", groups[0].Hash[:6]}, {"stray"}} {
		if code, _, _ := runCLI(t, append([]string{"report", "--db", db}, args...)...); code != 2 {
			t.Errorf("report %v: exit %d, want 2", args, code)
		}
	}
}
