package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/sweep"
)

// needSlurm skips the test unless a Slurm cluster answers here with a usable node
// (scripts/slurm-local start makes one; .ci/run starts it).
func needSlurm(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sbatch"); err != nil {
		t.Skip("no Slurm here (sbatch not on PATH); `scripts/slurm-local start` makes a one-node cluster")
	}
	out, err := exec.Command("sinfo", "-h", "-o", "%T").Output()
	if err != nil || !strings.Contains(string(out), "idle") && !strings.Contains(string(out), "mixed") {
		t.Skipf("Slurm does not answer with an idle node (sinfo: %q, %v); `scripts/slurm-local start` makes one", strings.TrimSpace(string(out)), err)
	}
}

// slurmSweepSpec is sweepSpec with training long enough (a few seconds) to be cancelled.
var slurmSweepSpec = strings.NewReplacer("steps = 5", "steps = 3000", "checkpoint_every = 0", "checkpoint_every = 100", "log_every = 1", "log_every = 10").Replace(sweepSpec)

func TestSlurmSweepEqualsLocalRuns(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "sweep.toml", sweepSpec)
	local := filepath.Join(dir, "local.db")
	if code, _, errOut := runCLI(t, "run", "-q", "--db", local, specPath); code != 0 {
		t.Fatalf("local run: exit %d: %s", code, errOut)
	}
	self, _ := os.Executable()
	t.Setenv("DDPM_CLI_AS_RUNNER", "1") // the array tasks run this test binary as the runner
	sw, merged := filepath.Join(dir, "sw"), filepath.Join(dir, "merged.db")
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--wait", "--cpus-per-task", "1", "--max-parallel", "2", "--runner", self, "--sweep", sw, "--db", merged, specPath); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errOut)
	}
	compareStores(t, local, merged)
	if code, _, errOut := runCLI(t, "merge", "--db", merged, sw); code != 0 || strings.Count(errOut, "0 added, 0 updated, 1 already merged") != 4 {
		t.Errorf("merging twice: exit %d: %s", code, errOut)
	}
	if code, out, _ := runCLI(t, "sweep", "status", sw); code != 0 || !strings.Contains(out, "4 trials: 4 finished") {
		t.Errorf("sweep status:\n%s", out)
	}
}

// TestSlurmCancelledTaskIsRedone: scancel of one array task mid-run leaves its trial
// interrupted; submit --resume redoes it from its checkpoint, and the sweep ends with each
// trial once, equal to a local run.
func TestSlurmCancelledTaskIsRedone(t *testing.T) {
	needSlurm(t)
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "sweep.toml", slurmSweepSpec)
	self, _ := os.Executable()
	t.Setenv("DDPM_CLI_AS_RUNNER", "1")
	sw, merged := filepath.Join(dir, "sw"), filepath.Join(dir, "merged.db")
	code, out, errOut := runCLI(t, "submit", "--slurm", "--cpus-per-task", "1", "--max-parallel", "1", "--runner", self, "--sweep", sw, specPath)
	if code != 0 {
		t.Fatalf("submit: exit %d: %s", code, errOut)
	}
	f, err := sweep.Open(sw)
	if err != nil || len(f.Jobs) != 1 {
		t.Fatalf("sweep folder after submit: %v %+v (%s)", err, f, out)
	}
	job := f.Jobs[0].ID
	t.Cleanup(func() { exec.Command("scancel", job).Run() })
	// Cancel task 1 once it has written a checkpoint.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if ck, _ := filepath.Glob(filepath.Join(sw, "shards", "trial-1", "*", "checkpoint*")); len(ck) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("task 1 wrote no checkpoint within 90 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("scancel", job+"_1").CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v %s", err, out)
	}
	// Wait for the array to end, then look at the sweep.
	for time.Now().Before(deadline.Add(60 * time.Second)) {
		q, err := exec.Command("squeue", "-h", "-j", job, "-o", "%i").Output()
		if err != nil || strings.TrimSpace(string(q)) == "" {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	states := f.States()
	if states[0].Status != "interrupted" {
		t.Fatalf("the cancelled trial is %q, want interrupted (log: %s)", states[0].Status, readLog(sw, 1))
	}
	for _, st := range states[1:] {
		if st.Status != "finished" {
			t.Errorf("trial %d is %q, want finished", st.Index, st.Status)
		}
	}
	if code, _, errOut := runCLI(t, "submit", "--slurm", "--resume", sw, "--wait", "--db", merged); code != 0 {
		t.Fatalf("submit --resume: exit %d: %s (log: %s)", code, errOut, readLog(sw, 1))
	}
	f, _ = sweep.Open(sw)
	if len(f.Jobs) != 2 || f.Jobs[1].Indices != "1%1" {
		t.Errorf("the resubmission was %+v, want one array over trial 1", f.Jobs)
	}
	local := filepath.Join(dir, "local.db")
	if code, _, errOut := runCLI(t, "run", "-q", "--db", local, specPath); code != 0 {
		t.Fatalf("local run: exit %d: %s", code, errOut)
	}
	compareStores(t, local, merged)
}

func readLog(sw string, k int) string {
	b, _ := os.ReadFile(filepath.Join(sw, "logs", "trial-"+strconv.Itoa(k)+".out"))
	return string(b)
}

// quotedSweep submits a two-trial sweep whose folder path and --set value hold spaces,
// quotes, '#', '$' and backticks, waits for it and checks that both trials ran into that
// folder with the --set value as written: nothing in it was read as a separator, comment,
// variable or command by sbatch or by bash.
func quotedSweep(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "quick.toml", strings.Replace(quickSpec, "seeds = [0]", "seeds = [1, 2]", 1))
	self, _ := os.Executable()
	t.Setenv("DDPM_CLI_AS_RUNNER", "1")
	sw := filepath.Join(dir, `sw it's "q" #1 $HOME `+"`id`")
	description := `cost $5 and $HOME, ` + "`id`" + ` it's "x" #y`
	merged := filepath.Join(dir, "merged.db")
	code, _, errOut := runCLI(t, "submit", "--slurm", "--wait", "--cpus-per-task", "1", "--runner", self, "--sweep", sw, "--db", merged,
		"--sbatch", "--comment=a b #c", "--set", "description="+strconv.Quote(description), specPath)
	if code != 0 {
		t.Fatalf("submit: exit %d: %s (log: %s)", code, errOut, readLog(sw, 1))
	}
	s, err := results.Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, _ := s.Runs(results.Filter{})
	if len(runs) != 2 {
		t.Fatalf("%d runs merged, want 2", len(runs))
	}
	for _, r := range runs {
		var resolved struct{ Description string }
		json.Unmarshal([]byte(r.Resolved), &resolved)
		if r.Status != results.StatusFinished || resolved.Description != description || !strings.HasPrefix(r.Env["merged_from"], sw+"/") {
			t.Errorf("run %d: %s, from %q, spec %s", r.ID, r.Status, r.Env["merged_from"], r.Resolved)
		}
	}
}

func TestSlurmSweepInAFolderWithQuotes(t *testing.T) {
	needSlurm(t)
	quotedSweep(t)
}

func TestSubmitWaitInAFolderWithQuotes(t *testing.T) {
	fakeSlurm(t)
	quotedSweep(t)
}
