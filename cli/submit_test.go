package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ddpm-runner/ddpm-runner/launch"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/sweep"
)

// testConfigEnv holds, for the helper processes a test starts, the configuration folder
// that TestMain made for the whole run.
const testConfigEnv = "DDPM_CLI_TEST_CONFIG"

// TestMain lets the test binary stand in for the runner binary that a sweep's tasks and
// --jobs children run. A --jobs child is always the runner: run as the test suite, it would
// start the suite again, and its children again.
func TestMain(m *testing.M) {
	if os.Getenv("DDPM_CLI_AS_RUNNER") == "1" || os.Getenv(launch.JobsParentEnv) != "" {
		os.Exit(run(append([]string{"runner"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	// Sweeps made by the tests are sealed with a key of the tests' own, never the user's. A
	// helper process (the test binary run again by a test) uses its parent's folder: one of
	// its own would be left behind whenever the helper ends by os.Exit or a signal, in the
	// TMPDIR that the signal tests check is left empty.
	if os.Getenv(testConfigEnv) != "" {
		os.Exit(m.Run())
	}
	cfg, err := os.MkdirTemp("", "ddpm-cli-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", cfg)
	os.Setenv(testConfigEnv, cfg)
	code := m.Run()
	os.RemoveAll(cfg)
	os.Exit(code)
}

// sweepSpec is 2 schedules x 2 seeds of the quick 2-D spec: four trials.
var sweepSpec = strings.Replace(quickSpec, "seeds = [0]", "seeds = [1, 2]", 1) + "[sweep]\n\"schedule.name\" = [\"linear\", \"cosine\"]\n"

// fakeSlurm puts an sbatch and a squeue on PATH that stand in for Slurm's: sbatch runs each
// array task of the script at once, one after another (except the indices listed in
// $FAKE_SLURM_SKIP, as if cancelled), and logs the indices it ran; squeue lists nothing.
func fakeSlurm(t *testing.T) (ranLog string) {
	t.Helper()
	bin := t.TempDir()
	ranLog = filepath.Join(bin, "ran.log")
	sbatch := `#!/bin/bash
set -e
array=""; script=""
for a in "$@"; do
  case "$a" in --array=*) array="${a#--array=}";; --*) ;; *) script="$a";; esac
done
array="${array%%\%*}"
for part in ${array//,/ }; do
  lo="${part%-*}"; hi="${part#*-}"
  for ((k = lo; k <= hi; k++)); do
    if [[ " $FAKE_SLURM_SKIP " == *" $k "* ]]; then continue; fi
    echo "$k" >> "` + ranLog + `"
    SLURM_ARRAY_TASK_ID=$k DDPM_CLI_AS_RUNNER=1 bash "$script" > /dev/null 2>&1 || true
  done
done
echo "4242"
`
	writeFile(t, bin, "sbatch", sbatch)
	writeFile(t, bin, "squeue", "#!/bin/sh\nexit 0\n")
	os.Chmod(filepath.Join(bin, "sbatch"), 0o755)
	os.Chmod(filepath.Join(bin, "squeue"), 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return ranLog
}

func TestSubmitDryRunWritesTheSweepFolder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
	sw := filepath.Join(dir, "sw")
	code, out, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--sweep", sw, "--max-parallel", "2", "--partition", "cpu",
		"--time", "1:00:00", "--cpus-per-task", "2", "--mem", "4G", "--gres", "gpu:1", "--sbatch", "--account=lab", specPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "--array=1-4%2") {
		t.Errorf("dry run printed %q, want the array 1-4%%2", out)
	}
	script, err := os.ReadFile(filepath.Join(sw, "job.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --partition=cpu", "#SBATCH --time=1:00:00", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=4G",
		"#SBATCH --gres=gpu:1", "#SBATCH --account=lab", "#SBATCH --requeue", "#SBATCH --signal=B:TERM@120",
		`--trial "$k"`, `run --resume`, "#SBATCH --chdir=" + dir, "sha256sum -c"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("job.sbatch lacks %q:\n%s", want, script)
		}
	}
	// Editing the spec after submission changes nothing a task reads, and is noticed.
	writeFile(t, dir, "sweep.toml", strings.Replace(sweepSpec, "steps = 5", "steps = 6", 1))
	f, err := sweep.Open(sw)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckSpecs(); err != nil {
		t.Errorf("the spec copy changed with the original: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(sw, f.Specs[0].Copy)); !strings.Contains(string(b), "steps = 5") {
		t.Error("the spec copy does not hold the submitted content")
	}
	writeFile(t, sw, f.Specs[0].Copy, "tampered")
	if err := f.CheckSpecs(); err == nil || !strings.Contains(err.Error(), "changed after submission") {
		t.Errorf("a changed spec copy was not noticed: %v", err)
	}
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--dry-run", "--sweep", sw, specPath); code != 2 || !strings.Contains(errOut, "not empty") {
		t.Errorf("reusing a sweep folder: exit %d, %s", code, errOut)
	}
}

// TestSubmitWaitMergesTheSameRunsAsALocalRun: a 4-trial sweep through (a stand-in for)
// Slurm, merged, holds the runs a local `runner run` makes, bit for bit; a task that never
// ran is resubmitted by --resume, and nothing is duplicated.
func TestSubmitWaitMergesTheSameRunsAsALocalRun(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	ranLog := fakeSlurm(t)
	// Without a name, a spec is named after its file: the sweep's copy must keep that name.
	specPath := writeFile(t, dir, "sweep.toml", strings.Replace(sweepSpec, "name = \"quick\"\n", "", 1))
	local := filepath.Join(dir, "local.db")
	if code, _, errOut := runCLI(t, "run", "-q", "--db", local, specPath); code != 0 {
		t.Fatalf("local run: exit %d: %s", code, errOut)
	}
	self, _ := os.Executable()
	sw, merged := filepath.Join(dir, "sw"), filepath.Join(dir, "merged.db")
	t.Setenv("FAKE_SLURM_SKIP", "3")
	code, _, errOut := runCLI(t, "submit", "--slurm", "--wait", "--runner", self, "--sweep", sw, "--db", merged, specPath)
	if code == 0 || !strings.Contains(errOut, "trials not finished: 3 (none)") {
		t.Fatalf("a sweep with a missing task: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "sweep", "status", sw)
	if code != 0 || !strings.Contains(out, "3 finished, 1 not started") {
		t.Errorf("sweep status: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("FAKE_SLURM_SKIP", "")
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--resume", sw, "--wait", "--db", merged); code != 0 {
		t.Fatalf("resubmission: exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(ranLog); string(b) != "1\n2\n4\n3\n" {
		t.Errorf("tasks ran in the order %q, want 1 2 4 then 3 alone", b)
	}
	if code, out, _ := runCLI(t, "sweep", "status", sw); code != 0 || !strings.Contains(out, "4 trials: 4 finished") {
		t.Errorf("sweep status after --resume:\n%s", out)
	}
	if code, _, errOut := runCLI(t, "merge", "--db", merged, sw); code != 0 || !strings.Contains(errOut, "0 added") {
		t.Errorf("merging again: exit %d: %s", code, errOut)
	}
	compareStores(t, local, merged)
}

// compareStores checks that two databases hold the same trials (by hash), once each, with
// bit-identical loss histories and summaries other than timings.
func compareStores(t *testing.T, wantPath, gotPath string) {
	t.Helper()
	open := func(p string) (*results.Store, []*results.Run) {
		s, err := results.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		runs, err := s.Runs(results.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return s, runs
	}
	ws, wantRuns := open(wantPath)
	gs, gotRuns := open(gotPath)
	if len(gotRuns) != len(wantRuns) {
		t.Fatalf("%s holds %d runs, %s %d", gotPath, len(gotRuns), wantPath, len(wantRuns))
	}
	byHash := map[string]*results.Run{}
	for _, r := range gotRuns {
		if byHash[r.Hash] != nil {
			t.Errorf("trial %s is in %s twice", r.Hash, gotPath)
		}
		byHash[r.Hash] = r
	}
	for _, w := range wantRuns {
		g := byHash[w.Hash]
		if g == nil {
			t.Errorf("trial %s (seed %d) missing from %s", w.Hash, w.Seed, gotPath)
			continue
		}
		if g.Spec != w.Spec {
			t.Errorf("trial %s: spec %q locally, %q through the sweep", w.Hash, w.Spec, g.Spec)
		}
		if g.Status != results.StatusFinished || w.Status != results.StatusFinished {
			t.Errorf("trial %s: status %s and %s", w.Hash, w.Status, g.Status)
		}
		hw, _ := ws.History(w.ID, "loss")
		hg, _ := gs.History(g.ID, "loss")
		if len(hw) == 0 || len(hw) != len(hg) {
			t.Fatalf("trial %s: %d and %d loss points", w.Hash, len(hw), len(hg))
		}
		for i := range hw {
			if math.Float64bits(hw[i].Value) != math.Float64bits(hg[i].Value) || hw[i].Step != hg[i].Step {
				t.Errorf("trial %s step %d: loss %v locally, %v through the sweep", w.Hash, hw[i].Step, hw[i].Value, hg[i].Value)
			}
		}
		for k, v := range w.Summaries {
			if !plugins.Reproducible(k) {
				continue
			}
			if math.Float64bits(v) != math.Float64bits(g.Summaries[k]) {
				t.Errorf("trial %s: %s = %v locally, %v through the sweep", w.Hash, k, v, g.Summaries[k])
			}
		}
	}
}

// TestRunJobsEqualsOneProcess: --jobs 2 on a 4-trial sweep records the runs that one process
// records, bit for bit, each once, and leaves no scratch shards behind.
func TestRunJobsEqualsOneProcess(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
	one, two := filepath.Join(dir, "one.db"), filepath.Join(dir, "two", "two.db")
	if code, _, errOut := runCLI(t, "run", "-q", "--db", one, specPath); code != 0 {
		t.Fatalf("--jobs 1: exit %d: %s", code, errOut)
	}
	t.Setenv("DDPM_CLI_AS_RUNNER", "1") // the children are this test binary
	code, _, errOut := runCLI(t, "run", "-q", "--jobs", "2", "--db", two, specPath)
	if code != 0 || strings.Count(errOut, "(shard run 1): finished") != 4 {
		t.Fatalf("--jobs 2: exit %d: %s", code, errOut)
	}
	compareStores(t, one, two)
	if left, _ := filepath.Glob(filepath.Join(dir, "two", "two", ".jobs-*")); len(left) != 0 {
		t.Errorf("scratch left: %v", left)
	}
}

// TestReportReadsSeveralDatabases: report --db A --db B shows the runs of both, as if merged,
// and writes nothing into either.
func TestReportReadsSeveralDatabases(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "quick.toml", quickSpec)
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	for i, db := range []string{a, b} {
		if code, _, errOut := runCLI(t, "run", "-q", "--db", db, "--set", "seeds=["+strconv.Itoa(i+3)+"]", specPath); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	}
	before, _ := os.ReadFile(a)
	code, out, errOut := runCLI(t, "report", "--db", a, "--db", b, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var runs []struct {
		Seed int               `json:"seed"`
		Env  map[string]string `json:"env"`
	}
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(runs) != 2 || runs[0].Seed != 3 || runs[1].Seed != 4 || runs[1].Env["merged_from"] != b {
		t.Errorf("report of two databases: %s", out)
	}
	if after, _ := os.ReadFile(a); !bytes.Equal(before, after) {
		t.Error("the report changed a database it read")
	}
}

// TestRunResumeLeavesALiveRunAlone: a second task of a trial whose run is still owned by a
// live process (its lock held) starts nothing and says so.
func TestRunResumeLeavesALiveRunAlone(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	_, out, _ := runCLI(t, "run", specPath, "--dry-run")
	m := regexp.MustCompile(`hash=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no hash in the dry run:\n%s", out)
	}
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.ClaimArtifactRoot()
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.CreateRun(results.NewRun{Spec: "quick", SpecFile: specPath, Hash: m[1], GroupHash: "g", Resolved: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	runDir := filepath.Join(root, strconv.FormatInt(id, 10))
	os.MkdirAll(runDir, 0o755)
	lock, err := os.OpenFile(filepath.Join(runDir, "run.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "run", "-q", "--resume", "--db", db, specPath)
	if code != exitRunFail || !strings.Contains(errOut, "is running") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	s, _ = results.Open(db)
	defer s.Close()
	if runs, _ := s.Runs(results.Filter{}); len(runs) != 1 || runs[0].Status != results.StatusRunning {
		t.Errorf("runs after the refused task: %d", len(runs))
	}
}
