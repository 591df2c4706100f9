package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// phaseStopper is the error output of a command whose phases are traced
// (DDPM_TRACE_PHASES): at the first line announcing its phase it cancels the command's
// context, as a SIGINT landing at the start of that phase would.
type phaseStopper struct {
	bytes.Buffer
	phase  string
	cancel context.CancelFunc
	hit    bool
}

func (w *phaseStopper) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		if line == "phase: "+w.phase && !w.hit {
			w.hit = true
			w.cancel()
		}
	}
	return w.Buffer.Write(p)
}

// runStopped runs the CLI in-process with its signal context cancelled at the start of
// phase, and fails the test if the command never reached that phase.
func runStopped(t *testing.T, phase string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("DDPM_TRACE_PHASES", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := signalContext
	signalContext = func(context.Context) (context.Context, context.CancelFunc) { return ctx, cancel }
	defer func() { signalContext = old }()
	w := &phaseStopper{phase: phase, cancel: cancel}
	var out bytes.Buffer
	code = run(append([]string{"runner"}, args...), &out, w)
	if !w.hit {
		t.Fatalf("%v never reached phase %s:\n%s", args, phase, w.String())
	}
	return code, out.String(), w.String()
}

// lastRunID is the id of the newest run in db.
func lastRunID(t *testing.T, db string) int64 {
	t.Helper()
	s, err := results.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.Runs(results.Filter{Last: 1})
	if err != nil || len(runs) != 1 {
		t.Fatalf("newest run of %s: %v", db, err)
	}
	return runs[0].ID
}

func recordOf(t *testing.T, db string, id int64) *results.Run {
	t.Helper()
	s, err := results.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Run(id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sameModelSummaries compares two runs' summaries, all but the timing ones, bit for bit.
func sameModelSummaries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the reference has no summaries", what)
	}
	for k, w := range want {
		if !plugins.Reproducible(k) {
			continue
		}
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: summary %s missing", what, k)
		} else if math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
			t.Errorf("%s: summary %s = %v, uninterrupted %v", what, k, g, w)
		}
	}
}

// TestInterruptedSampleRunResumes: a sample run stopped at any of its phases is
// interrupted, and `runner resume` samples it again in place to the numbers of an
// uninterrupted sample run, leaving no copy of the parent's checkpoint behind. Resume once
// refused every sample run.
func TestInterruptedSampleRunResumes(t *testing.T) {
	db := trainedParent(t)
	sets := []string{"--set", "sample.name=ddim", "--set", "sample.steps=5"}
	if code, _, errOut := runCLI(t, append([]string{"sample", "1", "--db", db, "-q"}, sets...)...); code != 0 {
		t.Fatalf("uninterrupted sample: exit %d: %s", code, errOut)
	}
	want := recordOf(t, db, 2)
	for _, phase := range []string{"copy", "sample", "metric.frechet", "metric.nll"} {
		t.Run(phase, func(t *testing.T) {
			code, _, errOut := runStopped(t, phase, append([]string{"sample", "1", "--db", db, "-q"}, sets...)...)
			id := lastRunID(t, db)
			if rec := recordOf(t, db, id); code != 1 || rec.Status != results.StatusInterrupted || !strings.Contains(errOut, "runner resume") {
				t.Fatalf("stopped at %s: exit %d, run %d %s: %s", phase, code, id, rec.Status, errOut)
			}
			code, _, errOut = runCLI(t, "resume", strconv.FormatInt(id, 10), "--db", db, "-q")
			rec := recordOf(t, db, id)
			if code != 0 || rec.Status != results.StatusFinished {
				t.Fatalf("resume of sample run %d: exit %d, %s: %s", id, code, rec.Status, errOut)
			}
			sameModelSummaries(t, "resumed sample run", rec.Summaries, want.Summaries)
			if _, err := os.Stat(filepath.Join(filepath.Dir(db), "runs", strconv.FormatInt(id, 10), "parent-checkpoint")); !os.IsNotExist(err) {
				t.Errorf("the copy of the parent's checkpoint was left in run %d's folder: %v", id, err)
			}
		})
	}
}

// TestInterruptedVerifyIsPendingUntilResumed: `rerun --verify` stopped by a signal records
// no verdict ("pending", never a false "status differs"), and `runner resume` finishes the
// rerun and stores the true verdict; for training reruns and sample reruns alike. A rerun
// whose process stopped after the rerun ended but before the verdict is verified by resume.
func TestInterruptedVerifyIsPendingUntilResumed(t *testing.T) {
	db := trainedParent(t)
	if code, _, errOut := runCLI(t, "sample", "1", "--db", db, "-q", "--set", "sample.name=ddim", "--set", "sample.steps=5"); code != 0 {
		t.Fatalf("sample: exit %d: %s", code, errOut)
	}
	for _, c := range []struct {
		of    string
		phase string
	}{
		{"1", "train"}, {"1", "checkpoint"}, {"1", "sample"}, {"1", "metric.nll"},
		{"2", "copy"}, {"2", "metric.frechet"},
	} {
		t.Run("run "+c.of+" at "+c.phase, func(t *testing.T) {
			code, out, errOut := runStopped(t, c.phase, "rerun", c.of, "--verify", "--db", db, "-q")
			id := lastRunID(t, db)
			rec := recordOf(t, db, id)
			if code != 1 || rec.Status != results.StatusInterrupted || strings.Contains(out, "differs") || strings.Contains(errOut, "not identical") {
				t.Fatalf("stopped at %s: exit %d, run %d %s, %q %s", c.phase, code, id, rec.Status, out, errOut)
			}
			if rec.Env["rerun.verdict"] != "pending" || rec.Env["rerun.of"] != c.of {
				t.Errorf("stopped at %s: env rerun.verdict %q, rerun.of %q; want pending, %s", c.phase, rec.Env["rerun.verdict"], rec.Env["rerun.of"], c.of)
			}
			code, out, errOut = runCLI(t, "resume", strconv.FormatInt(id, 10), "--db", db, "-q")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || lines[len(lines)-1] != "identical" {
				t.Fatalf("resume of rerun %d: exit %d, %q %s", id, code, out, errOut)
			}
			if v := recordOf(t, db, id).Env["rerun.verdict"]; v != "identical" {
				t.Errorf("after resume, rerun.verdict = %q", v)
			}
		})
	}
	// The process stopped between the rerun's end and its verdict (kill -9 in phase verify).
	id := lastRunID(t, db)
	s, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	err = s.AddEnv(id, map[string]string{"rerun.verdict": "pending"})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "resume", strconv.FormatInt(id, 10), "--db", db, "-q"); code != 0 || strings.TrimSpace(out) != "identical" {
		t.Errorf("resume of a finished rerun with a pending verdict: exit %d, %q %s", code, out, errOut)
	}
	if v := recordOf(t, db, id).Env["rerun.verdict"]; v != "identical" {
		t.Errorf("after resume, rerun.verdict = %q", v)
	}
	// With its verdict given, the rerun is finished and cannot be resumed.
	if code, _, errOut := runCLI(t, "resume", strconv.FormatInt(id, 10), "--db", db); code != 2 || !strings.Contains(errOut, "is finished") {
		t.Errorf("resume of a verified rerun: exit %d, %s", code, errOut)
	}
}

// TestSampleReadsOnlyItsParentsCheckpoint: runner sample opens the parent's checkpoint
// files only as regular files inside the parent's folder, of at most the size its network's
// checkpoint can take; anything else is refused with exit 2, naming the file, before a
// sample run is recorded or anything is copied; resume of an interrupted sample run
// refuses it the same way and leaves the run as it was. A checkpoint symlinked to /dev/zero
// once filled the disk.
func TestSampleReadsOnlyItsParentsCheckpoint(t *testing.T) {
	db := trainedParent(t)
	dir := filepath.Join(filepath.Dir(db), "runs", "1", "checkpoint")
	jsons, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if len(jsons) == 0 {
		t.Fatal("the parent has no checkpoint")
	}
	last := strings.TrimSuffix(jsons[len(jsons)-1], ".json")
	outside := filepath.Join(t.TempDir(), "copy.bin")
	b, err := os.ReadFile(last + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sampleArgs := []string{"sample", "1", "--db", db, "-q", "--set", "sample.name=ddim", "--set", "sample.steps=3"}
	if code, _, errOut := runStopped(t, "sample", sampleArgs...); code != 1 {
		t.Fatalf("interrupted sample: exit %d: %s", code, errOut)
	}
	stopped := strconv.FormatInt(lastRunID(t, db), 10)
	for _, c := range []struct {
		name, file string
		replace    func(path string) error
		want       string
	}{
		{"weights to /dev/zero", ".bin", func(p string) error { return os.Symlink("/dev/zero", p) }, "outside"},
		{"description to /dev/zero", ".json", func(p string) error { return os.Symlink("/dev/zero", p) }, "outside"},
		{"weights outside the run's folder", ".bin", func(p string) error { return os.Symlink(outside, p) }, "outside"},
		{"weights a FIFO", ".bin", func(p string) error { return syscall.Mkfifo(p, 0o644) }, "not a regular file"},
		{"weights a folder", ".bin", func(p string) error { return os.Mkdir(p, 0o755) }, "not a regular file"},
		{"weights larger than the network's checkpoint", ".bin", func(p string) error {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
			return os.Truncate(p, 1<<30) // sparse: takes no disk
		}, "more than the"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := last + c.file
			saved := path + ".saved"
			if err := os.Rename(path, saved); err != nil {
				t.Fatal(err)
			}
			defer func() {
				os.Remove(path)
				if err := os.Rename(saved, path); err != nil {
					t.Fatal(err)
				}
			}()
			if err := c.replace(path); err != nil {
				t.Fatal(err)
			}
			before := lastRunID(t, db)
			code, _, errOut := runCLI(t, "sample", "1", "--db", db, "-q", "--set", "sample.name=ddim", "--set", "sample.steps=3")
			if code != 2 || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, filepath.Base(path)) {
				t.Errorf("exit %d, %q; want exit 2 saying %q and naming %s", code, errOut, c.want, filepath.Base(path))
			}
			if after := lastRunID(t, db); after != before {
				t.Errorf("a refused sample recorded run %d", after)
			}
			code, _, errOut = runCLI(t, "resume", stopped, "--db", db, "-q")
			if code != 2 || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, filepath.Base(path)) {
				t.Errorf("resume of sample run %s: exit %d, %q; want exit 2 saying %q and naming %s", stopped, code, errOut, c.want, filepath.Base(path))
			}
			if id, _ := strconv.ParseInt(stopped, 10, 64); recordOf(t, db, id).Status != results.StatusInterrupted {
				t.Errorf("a refused resume changed sample run %s to %s", stopped, recordOf(t, db, id).Status)
			}
		})
	}
	// The checkpoint put back, sampling and resuming work.
	if code, _, errOut := runCLI(t, sampleArgs...); code != 0 {
		t.Errorf("sample of the intact checkpoint: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "resume", stopped, "--db", db, "-q"); code != 0 {
		t.Errorf("resume of sample run %s from the intact checkpoint: exit %d: %s", stopped, code, errOut)
	}
}

// TestVerifyKilledBeforeItsFirstCheckpointAdvisesVerifyingAgain: `rerun --verify` killed
// (kill -9) before its rerun wrote a checkpoint leaves a rerun that cannot be resumed
// (failed, verdict pending). Resuming it must say what can be done, which is verifying the
// original run again (`runner rerun --verify 1`), not rerunning the rerun (`runner rerun 2`),
// which would verify nothing.
func TestVerifyKilledBeforeItsFirstCheckpointAdvisesVerifyingAgain(t *testing.T) {
	db := filepath.Join(t.TempDir(), "runs.db")
	recordQuick(t, db, "train.steps=300")
	self, err := os.Executable()
	must(t, err)
	args, _ := json.Marshal([]string{"rerun", "1", "--verify", "--db", db, "-q"})
	cmd := exec.Command(self, "-test.run=^TestHelperReadOnlyCLI$")
	cmd.Env = append(os.Environ(), "RUNNER_HELPER_ARGS="+string(args), "DDPM_TRACE_PHASES=1")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "phase: train") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the rerun never began training: %s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	must(t, cmd.Process.Kill())
	cmd.Wait()
	// Before its first checkpoint, whatever instant the kill landed at.
	must(t, os.RemoveAll(filepath.Join(filepath.Dir(db), "runs", "2", "checkpoint")))

	code, _, errOut := runCLI(t, "resume", "2", "--db", db, "-q")
	rec := recordOf(t, db, 2)
	if rec.Status != results.StatusFailed || rec.Env["rerun.verdict"] != "pending" {
		t.Fatalf("the killed rerun is %s with verdict %q; want failed, pending", rec.Status, rec.Env["rerun.verdict"])
	}
	if code != 2 || !strings.Contains(errOut, "`runner rerun --verify 1`") || strings.Contains(errOut, "runner rerun 2") {
		t.Errorf("resume of the killed rerun: exit %d, %s; want exit 2 advising `runner rerun --verify 1`", code, errOut)
	}
}
