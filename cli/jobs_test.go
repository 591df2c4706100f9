package cli

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/launch"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// jobsSpec trains two seeds of a small 2-D model for long enough (seconds) that a
// signal can land in training, with a checkpoint every 40 steps. At 600 steps, once the go
// backend ran its ops in sequence, a run could finish between the poll that saw both runs
// training and the signal (twice in six runs of the suite).
const jobsSpec = `name = "jobsig"
seeds = [0, 1]
[data]
name = "moons"
[schedule]
name = "cosine"
T = 20
[network]
hidden = [32, 32]
embed = 8
[train]
steps = 2400
batch = 32
log_every = 1
checkpoint_every = 40
[sample]
n = 32
[eval]
metrics = ["frechet"]
n = 32
`

// seedCounts counts a database's runs per seed, by status.
func seedCounts(t *testing.T, db string) map[int]map[string]int {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]map[string]int{}
	for _, r := range runs {
		if out[r.Seed] == nil {
			out[r.Seed] = map[string]int{}
		}
		out[r.Seed][r.Status]++
	}
	return out
}

// TestRunJobsHonoursResumeAndAddSeeds: with --jobs, --add-seeds and --resume decide against
// the main database as the sequential path does: finished trials are not run again, and no
// (hash, seed) gets a second run.
func TestRunJobsHonoursResumeAndAddSeeds(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	specPath := writeFile(t, dir, "quick.toml", quickSpec)
	db := filepath.Join(dir, "runs.db")
	t.Setenv("DDPM_CLI_AS_RUNNER", "1") // the children are this test binary
	steps := []struct {
		args    []string
		skipped int
		want    map[int]int // finished runs per seed
	}{
		{[]string{"--set", "seeds=[0, 1]"}, 0, map[int]int{0: 1, 1: 1}},
		{[]string{"--set", "seeds=[0, 1]", "--add-seeds", "1"}, 2, map[int]int{0: 1, 1: 1, 2: 1}},
		{[]string{"--set", "seeds=[0, 1, 2]", "--resume"}, 3, map[int]int{0: 1, 1: 1, 2: 1}},
		{[]string{"--set", "seeds=[0, 1, 2, 3]", "--resume"}, 3, map[int]int{0: 1, 1: 1, 2: 1, 3: 1}},
	}
	for i, st := range steps {
		args := append([]string{"run", "-q", "--jobs", "2", "--db", db, specPath}, st.args...)
		code, _, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("step %d %v: exit %d: %s", i, st.args, code, errOut)
		}
		if n := strings.Count(errOut, "already finished; skipped"); n != st.skipped {
			t.Errorf("step %d %v: %d trials skipped, want %d:\n%s", i, st.args, n, st.skipped, errOut)
		}
		got := seedCounts(t, db)
		if len(got) != len(st.want) {
			t.Errorf("step %d %v: seeds %v, want %v", i, st.args, got, st.want)
		}
		for seed, n := range st.want {
			if got[seed][results.StatusFinished] != n || len(got[seed]) != 1 {
				t.Errorf("step %d %v: seed %d has runs %v, want %d finished", i, st.args, seed, got[seed], n)
			}
		}
	}
}

// TestResumeLeavesTrialsOfALiveJobsRunAlone: --resume, with --jobs or without, does not start
// a trial that a live runner run --jobs on the same database runs in its scratch folder
// (its runs are not in the database yet), as it does not start one whose run is running.
func TestResumeLeavesTrialsOfALiveJobsRunAlone(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("DDPM_CLI_AS_RUNNER", "1")
	specPath := writeFile(t, dir, "quick.toml", quickSpec)
	_, out, _ := runCLI(t, "run", specPath, "--set", "seeds=[0, 1]", "--dry-run")
	m := regexp.MustCompile(`hash=(\S+)`).FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		t.Fatalf("hashes in the dry run:\n%s", out)
	}
	for _, args := range [][]string{{"--resume"}, {"--resume", "--jobs", "2"}} {
		db := filepath.Join(t.TempDir(), "runs.db")
		s, err := openForRuns(db, io.Discard, false)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := launch.NewScratch(s.ArtifactRoot(), []string{m[1][1]})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, append([]string{"run", "-q", "--db", db, "--set", "seeds=[0, 1]", specPath}, args...)...)
		if code != exitRunFail || !strings.Contains(errOut, "held by the scratch folder") {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
		if n := seedCounts(t, db); n[1] != nil {
			t.Errorf("%v: seed 1 has runs %v beside a live --jobs that holds it", args, n[1])
		}
		sc.Release()
	}
}

// jobsRun is a runner run --jobs started as its own process (this test binary) in its own
// process group.
func startJobsRun(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "DDPM_CLI_AS_RUNNER=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	})
	return cmd
}

// waitForTraining polls the shards of the --jobs run on db until n runs have logged more
// than k steps, and returns their processes' pids.
func waitForTraining(t *testing.T, db string, n, k int) []int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		shards, _ := filepath.Glob(filepath.Join(strings.TrimSuffix(db, ".db"), ".jobs-*", "trial-*.db"))
		var pids []int
		for _, sh := range shards {
			s, err := results.OpenReadOnly(sh)
			if err != nil {
				continue
			}
			var pid, step int
			err = s.DB.QueryRow(`SELECT r.pid, COALESCE(MAX(m.step), 0) FROM runs r LEFT JOIN metrics m ON m.run_id = r.id AND m.key = 'loss' GROUP BY r.id`).Scan(&pid, &step)
			s.Close()
			if err == nil && step > k {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= n {
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %d runs past step %d in the shards of %s", n, k, db)
	return nil
}

// losses reads every run's loss history by seed; each seed must have exactly one run.
func lossesBySeed(t *testing.T, db string) map[int][]float64 {
	t.Helper()
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Runs(results.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]float64{}
	for _, r := range runs {
		if _, dup := out[r.Seed]; dup {
			t.Fatalf("%s: seed %d has more than one run", db, r.Seed)
		}
		if r.Status != results.StatusFinished {
			t.Fatalf("%s: run %d (seed %d) is %s: %s", db, r.ID, r.Seed, r.Status, r.Error)
		}
		h, err := s.History(r.ID, "loss")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range h {
			out[r.Seed] = append(out[r.Seed], p.Value)
		}
	}
	return out
}

// TestRunJobsSurvivesSignals: a signal to runner run --jobs (SIGTERM or SIGINT to the
// parent, SIGINT to its whole group, SIGKILL to the parent) leaves no child running and no
// run stuck running: every run is in the main database with a true status (at once, or
// recovered by the next command after a kill), and --resume, with --jobs or without,
// continues the interrupted runs from their checkpoints to the losses of an uninterrupted
// run, bit for bit, one run per seed.
func TestRunJobsSurvivesSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for seconds")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("DDPM_CLI_AS_RUNNER", "1") // the children are this test binary
	specPath := writeFile(t, dir, "jobsig.toml", jobsSpec)
	ref := filepath.Join(dir, "ref.db")
	if code, _, errOut := runCLI(t, "run", "-q", "--db", ref, specPath); code != 0 {
		t.Fatalf("reference: exit %d: %s", code, errOut)
	}
	want := lossesBySeed(t, ref)
	for _, tc := range []struct {
		name   string
		sig    syscall.Signal
		group  bool     // signal the whole process group (Ctrl-C at a terminal)
		resume []string // the command that continues
		// at once: the command that continues starts while the children of the killed
		// parent may still be checkpointing; it waits for them.
		atOnce bool
	}{
		{"TERM", syscall.SIGTERM, false, []string{"--jobs", "2", "--resume"}, false},
		{"INT to the group", syscall.SIGINT, true, []string{"--jobs", "2", "--resume"}, false},
		{"KILL", syscall.SIGKILL, false, []string{"--jobs", "2", "--resume"}, false},
		{"KILL then a plain run at once", syscall.SIGKILL, false, []string{"--resume"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"), "runs.db")
			cmd := startJobsRun(t, "run", "-q", "--jobs", "2", "--db", db, specPath)
			pids := waitForTraining(t, db, 2, 30)
			target := cmd.Process.Pid
			if tc.group {
				target = -target
			}
			if err := syscall.Kill(target, tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			out := fmt.Sprint(cmd.Stdout)
			if tc.sig != syscall.SIGKILL && (cmd.ProcessState.ExitCode() != exitRunFail || !strings.Contains(out, "--resume")) {
				t.Fatalf("after %v: %v, output:\n%s", tc.sig, err, out)
			}
			// The children end with their parent: at once after TERM or INT (the parent
			// waited for them), by Pdeathsig after KILL.
			childrenGone := func() {
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					alive := 0
					for _, pid := range pids {
						if launch.ProcessAlive(pid) {
							alive++
						}
					}
					if alive == 0 {
						return
					}
					if tc.sig != syscall.SIGKILL || time.Now().After(deadline) {
						t.Fatalf("after %v to the parent, %d of its children %v are alive", tc.sig, alive, pids)
					}
				}
			}
			if !tc.atOnce {
				childrenGone()
			}
			if tc.sig != syscall.SIGKILL {
				counts := seedCounts(t, db)
				if len(counts) != 2 {
					t.Fatalf("after %v: runs per seed %v, want both seeds", tc.sig, counts)
				}
				for seed, c := range counts {
					if c[results.StatusInterrupted]+c[results.StatusFinished] != 1 || len(c) != 1 {
						t.Errorf("after %v: seed %d has runs %v, want one interrupted or finished", tc.sig, seed, c)
					}
				}
				if left, _ := filepath.Glob(filepath.Join(filepath.Dir(db), "runs", ".jobs-*")); len(left) != 0 {
					t.Errorf("after %v: scratch left: %v", tc.sig, left)
				}
			}
			code, _, errOut := runCLI(t, append([]string{"run", "-q", "--db", db, specPath}, tc.resume...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", tc.resume, code, errOut)
			}
			childrenGone()
			if strings.Contains(errOut, "waiting for the children") {
				t.Log("the command waited for the children of the killed parent")
			}
			if strings.Count(errOut, "resuming from its checkpoint") != 2 {
				t.Errorf("%v did not resume both runs from their checkpoints:\n%s", tc.resume, errOut)
			}
			got := lossesBySeed(t, db)
			for seed, w := range want {
				g := got[seed]
				if len(g) != len(w) {
					t.Fatalf("seed %d: %d losses, uninterrupted %d", seed, len(g), len(w))
				}
				for i := range w {
					if math.Float64bits(g[i]) != math.Float64bits(w[i]) {
						t.Fatalf("seed %d: loss %d = %v, uninterrupted %v", seed, i+1, g[i], w[i])
					}
				}
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(db), "runs", ".jobs-*")); len(left) != 0 {
				t.Errorf("scratch left after %v: %v", tc.resume, left)
			}
		})
	}
}
