package engine_test

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/losses"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// resumeSpec trains long enough to be interrupted midway, with an importance sampler whose
// state must survive the checkpoint too.
var resumeSets = []string{"train.steps=200", "train.log_every=1", "train.checkpoint_every=50",
	"loss.name=hybrid", "predictor.variance=learned_range", "loss.timesteps=importance", "train.warmup=20",
	`eval.metrics=["nll", "frechet"]`}

func sameHistory(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d losses, uninterrupted run has %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s: step %d loss %v, uninterrupted %v", what, i+1, got[i], want[i])
		}
	}
}

func TestResumeAfterInterruptIsBitIdentical(t *testing.T) {
	ref := newHarness(t)
	refOut := ref.run(ref.jobs(tiny, resumeSets...)[0])
	want := ref.losses(refOut.RunID)

	h := newHarness(t)
	out := h.interruptedRun(resumeSets)
	res := engine.Resume(context.Background(), h.jobs(tiny, resumeSets...)[0], engine.Options{Store: h.store}, out.RunID)
	if res.Status != results.StatusFinished || res.RunID != out.RunID {
		t.Fatalf("resume: %s (run %d): %v", res.Status, res.RunID, res.Err)
	}
	sameHistory(t, "after SIGINT", h.losses(out.RunID), want)
	for _, k := range []string{"final_loss", "nll_nats_per_dim", "frechet"} {
		if a, b := res.Summaries[k], refOut.Summaries[k]; math.Float64bits(a) != math.Float64bits(b) && !(math.IsNaN(a) && math.IsNaN(b)) {
			t.Errorf("summary %s: resumed %v, uninterrupted %v", k, a, b)
		}
	}
}

// TestHelperCrashingRun is the child of TestResumeAfterKill9: it trains until killed.
func TestHelperCrashingRun(t *testing.T) {
	db := os.Getenv("ENGINE_HELPER_DB")
	if db == "" {
		t.Skip("helper process only")
	}
	store, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: filepath.Dir(db), store: store}
	sets := append(append([]string{}, resumeSets...), "train.steps=100000")
	h.run(h.jobs(tiny, sets...)[0])
}

func TestResumeAfterKill9IsBitIdentical(t *testing.T) {
	ref := newHarness(t)
	want := ref.losses(ref.run(ref.jobs(tiny, resumeSets...)[0]).RunID)

	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashingRun$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ENGINE_HELPER_DB="+db)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it mid-way between checkpoints once it has logged 120 steps.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s, err := results.Open(db); err == nil {
			n, _ := s.CountMetrics(1)
			s.Close()
			if n >= 3*120 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the helper did not log 120 steps in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	store, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h := &harness{t: t, dir: dir, store: store}
	r, _ := store.Run(1)
	if r.Status != results.StatusRunning {
		t.Fatalf("killed run recorded as %s, want running", r.Status)
	}
	// The killed run asked for 100000 steps; resume the same trial but with the reference's
	// 200, which changes nothing before step 200 (the schedule of steps does not depend on the total).
	res := engine.Resume(context.Background(), h.jobs(tiny, resumeSets...)[0], engine.Options{Store: store}, 1)
	if res.Status != results.StatusFinished {
		t.Fatalf("resume: %s: %v", res.Status, res.Err)
	}
	sameHistory(t, "after kill -9", h.losses(1), want)
}

// interruptedRun starts run 1 of tiny with sets and interrupts it at its first progress
// output, as SIGINT would, leaving it checkpointed.
func (h *harness) interruptedRun(sets []string) engine.Outcome {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := engine.Run(ctx, h.jobs(tiny, sets...)[0], engine.Options{Store: h.store,
		Progress: cancelOnWrite{cancel}})
	cancel()
	if out.Status != results.StatusInterrupted {
		h.t.Fatalf("first leg %s: %v", out.Status, out.Err)
	}
	return out
}

// TestResumeSkipsATruncatedCheckpoint: a checkpoint cut short (the process killed while
// writing it) is moved aside and the run resumes from the one before, still bit-identical.
func TestResumeSkipsATruncatedCheckpoint(t *testing.T) {
	sets := append(append([]string{}, resumeSets...), "train.checkpoint_every=5")
	ref := newHarness(t)
	want := ref.losses(ref.run(ref.jobs(tiny, sets...)[0]).RunID)

	h := newHarness(t)
	h.interruptedRun(sets)
	bins, _ := filepath.Glob(filepath.Join(h.dir, "runs", "1", "checkpoint", "checkpoint-*.bin"))
	if len(bins) < 2 {
		t.Fatalf("%d checkpoints, want 2", len(bins))
	}
	newest := bins[len(bins)-1]
	if err := os.Truncate(newest, 100); err != nil {
		t.Fatal(err)
	}
	res := engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, 1)
	if res.Status != results.StatusFinished {
		t.Fatalf("resume: %s: %v", res.Status, res.Err)
	}
	if _, err := os.Stat(newest + ".broken"); err != nil {
		t.Errorf("the truncated checkpoint was not moved aside: %v", err)
	}
	sameHistory(t, "after a truncated checkpoint", h.losses(1), want)
}

// TestResumeAfterTheOnlyCheckpointIsTruncated: a run killed while writing its first
// checkpoint has nothing to resume from; resume moves the broken file aside and trains from
// step 1, ending with the history of an uninterrupted run (not a failed resume).
func TestResumeAfterTheOnlyCheckpointIsTruncated(t *testing.T) {
	// The defaults (uniform timesteps, L_simple), whose batches are drawn ahead.
	sets := []string{"train.steps=60", "train.log_every=1", "train.checkpoint_every=0"}
	ref := newHarness(t)
	want := ref.losses(ref.run(ref.jobs(tiny, sets...)[0]).RunID)

	h := newHarness(t)
	h.interruptedRun(sets)
	bins, _ := filepath.Glob(filepath.Join(h.dir, "runs", "1", "checkpoint", "checkpoint-*.bin"))
	if len(bins) != 1 {
		t.Fatalf("%d checkpoints, want the interrupt's one", len(bins))
	}
	if err := os.Truncate(bins[0], 100); err != nil {
		t.Fatal(err)
	}
	res := engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, 1)
	if res.Status != results.StatusFinished {
		t.Fatalf("resume: %s: %v", res.Status, res.Err)
	}
	if _, err := os.Stat(bins[0] + ".broken"); err != nil {
		t.Errorf("the truncated checkpoint was not moved aside: %v", err)
	}
	sameHistory(t, "after the only checkpoint was truncated", h.losses(1), want)
}

// TestResumeSetsABrokenSamplerStateAside: a checkpoint whose timestep sampler state is
// damaged (garbage, empty, gone, or another sampler's) is set aside with its state, like an
// unreadable checkpoint, and the run resumes from the checkpoint before, bit-identical to an
// uninterrupted run. It once failed the resume, and so the run, on every try. With
// checkpoint_every 7 the interrupt at step 20 leaves checkpoints of steps 14 and 20; with 5,
// both kept checkpoints are of step 20 and share the state, so the run starts over.
func TestResumeSetsABrokenSamplerStateAside(t *testing.T) {
	for _, every := range []string{"7", "5"} {
		sets := append(append([]string{}, resumeSets...), "train.checkpoint_every="+every)
		ref := newHarness(t)
		want := ref.losses(ref.run(ref.jobs(tiny, sets...)[0]).RunID)
		for _, c := range []struct {
			name   string
			damage func(path string) error
		}{
			{"garbage", func(p string) error { return os.WriteFile(p, []byte("garbage\n"), 0o644) }},
			{"empty", func(p string) error { return os.WriteFile(p, nil, 0o644) }},
			{"removed", os.Remove},
			{"another sampler", func(p string) error { return os.WriteFile(p, []byte(`{"sampler":"uniform","T":20}`), 0o644) }},
		} {
			t.Run("every "+every+"/"+c.name, func(t *testing.T) {
				h := newHarness(t)
				h.interruptedRun(sets)
				dir := filepath.Join(h.dir, "runs", "1", "checkpoint")
				state := filepath.Join(dir, "timesteps-step-00000020.json")
				if err := c.damage(state); err != nil {
					t.Fatal(err)
				}
				res := engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, 1)
				if res.Status != results.StatusFinished {
					t.Fatalf("resume: %s: %v", res.Status, res.Err)
				}
				sameHistory(t, "after a broken sampler state", h.losses(1), want)
				aside, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*-step-00000020.json.broken"))
				if len(aside) == 0 {
					t.Error("the checkpoint of the broken state was not set aside")
				}
				rec, _ := h.store.Run(1)
				if !strings.Contains(rec.Env[engine.SetAsideEnvKey], "timestep sampler state of its step 20") {
					t.Errorf("env %s = %q, want it to say why", engine.SetAsideEnvKey, rec.Env[engine.SetAsideEnvKey])
				}
			})
		}
	}
}

// Runs on a backend other than go initialise their weights on a go backend and upload them.
// On the go backend itself that path must give the weights, and so the losses and summaries,
// of a plain run bit for bit: then a run on XLA starts from the weights a go run starts from.
func TestWeightsInitialisedOnGoAreTheGoBackendsOwn(t *testing.T) {
	for _, c := range []struct {
		name string
		text func(*testing.T) string
		sets []string
	}{
		{"mlp", func(*testing.T) string { return tiny }, resumeSets},
		{"unet", unetSpec, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			text := c.text(t)
			plain := h.run(h.jobs(text, c.sets...)[0])
			viaGo := engine.Run(context.Background(), h.jobs(text, c.sets...)[0], engine.Options{Store: h.store, InitialiseOnGo: true})
			if plain.Status != results.StatusFinished || viaGo.Status != results.StatusFinished {
				t.Fatalf("plain: %s %v; initialised on go: %s %v", plain.Status, plain.Err, viaGo.Status, viaGo.Err)
			}
			sameHistory(t, "initialised on a separate go backend", h.losses(viaGo.RunID), h.losses(plain.RunID))
			if a, b := viaGo.Summaries["final_loss"], plain.Summaries["final_loss"]; math.Float64bits(a) != math.Float64bits(b) {
				t.Errorf("final loss %v, plain run %v", a, b)
			}
		})
	}
}

// unregularSets interrupt at step 20 with checkpoints of steps 14 and 20, so that a broken
// step 20 checkpoint leaves the step 14 one to resume from.
var unregularSets = append(append([]string{}, resumeSets...), "train.checkpoint_every=7")

// TestHelperResume is the child of TestResumeSetsAsideCheckpointFilesThatAreNotRegular: it
// resumes run 1 of the database at $ENGINE_HELPER_RESUME_DB.
func TestHelperResume(t *testing.T) {
	db := os.Getenv("ENGINE_HELPER_RESUME_DB")
	if db == "" {
		t.Skip("helper process only")
	}
	store, err := results.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h := &harness{t: t, dir: filepath.Dir(db), store: store}
	res := engine.Resume(context.Background(), h.jobs(tiny, unregularSets...)[0], engine.Options{Store: store}, 1)
	t.Logf("resume: %s %v", res.Status, res.Err)
}

// TestResumeSetsAsideCheckpointFilesThatAreNotRegular: the files of a checkpoint (its
// timestep sampler state, weights and metadata) are names in the run's folder that anyone
// who can write the folder can replace. A FIFO there, or a symlink to /dev/zero, is refused
// like any other broken checkpoint (a regular file inside the checkpoint folder, of bounded
// size, or nothing) and the run resumes from the checkpoint before, bit-identical to an
// uninterrupted run. The sampler state was read with os.ReadFile and the weights opened by
// GoMLX as they were: a FIFO blocked the resume for good in open(2) (SIGTERM could not stop
// it; the run stayed "running"), /dev/zero as the state ran it out of memory, and as the
// weights it loaded zeros. The resume runs in a child process whose address space is capped,
// so that a regression fails the test instead of taking the machine's memory.
func TestResumeSetsAsideCheckpointFilesThatAreNotRegular(t *testing.T) {
	ref := newHarness(t)
	want := ref.losses(ref.run(ref.jobs(tiny, unregularSets...)[0]).RunID)
	fifo := func(p string) error {
		if err := os.Remove(p); err != nil {
			return err
		}
		return syscall.Mkfifo(p, 0o644)
	}
	devZero := func(p string) error {
		if err := os.Remove(p); err != nil {
			return err
		}
		return os.Symlink("/dev/zero", p)
	}
	for _, c := range []struct {
		name, file string // file: a glob in the checkpoint folder
		damage     func(path string) error
		why        string // what the set-aside record must say
	}{
		{"sampler state is a FIFO", "timesteps-step-00000020.json", fifo, "not a regular file"},
		{"sampler state leads to /dev/zero", "timesteps-step-00000020.json", devZero, "outside"},
		{"weights are a FIFO", "checkpoint-*-step-00000020.bin", fifo, "not a regular file"},
		{"weights lead to /dev/zero", "checkpoint-*-step-00000020.bin", devZero, "outside"},
		{"metadata is a FIFO", "checkpoint-*-step-00000020.json", fifo, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.interruptedRun(unregularSets)
			dir := filepath.Join(h.dir, "runs", "1", "checkpoint")
			files, _ := filepath.Glob(filepath.Join(dir, c.file))
			if len(files) != 1 {
				t.Fatalf("%d files %s in %s, want 1", len(files), c.file, dir)
			}
			if err := c.damage(files[0]); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -v 2000000 && exec "$0" "$@"`,
				os.Args[0], "-test.run=^TestHelperResume$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "ENGINE_HELPER_RESUME_DB="+filepath.Join(h.dir, "runs.db"))
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the resume was still running after 60 s; want the %s refused at once:\n%s", c.file, out)
			}
			if err != nil {
				t.Fatalf("the resume: %v\n%s", err, out)
			}
			rec, err := h.store.Run(1)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != results.StatusFinished {
				t.Fatalf("run 1 is %s (%s), want finished from the step 14 checkpoint:\n%s", rec.Status, rec.Error, out)
			}
			sameHistory(t, "after a "+c.name, h.losses(1), want)
			aside := rec.Env[engine.SetAsideEnvKey]
			if !strings.Contains(aside, "step-00000020") || !strings.Contains(aside, c.why) {
				t.Errorf("env %s = %q, want the step 20 checkpoint set aside as %q", engine.SetAsideEnvKey, aside, c.why)
			}
			if broken, _ := filepath.Glob(filepath.Join(dir, c.file+".broken")); len(broken) != 1 {
				t.Errorf("%s was not moved aside", c.file)
			}
		})
	}
}

// TestSamplerStateCap: the cap on the sampler state that resume reads admits the largest
// state a run can write, the importance sampler's at the largest T a spec allows, with
// every loss of the longest form a JSON number takes.
func TestSamplerStateCap(t *testing.T) {
	info, ok := plugins.Info(plugins.KindSchedule)
	if !ok {
		t.Fatal("no schedule kind")
	}
	maxT := 0
	for _, p := range info.Common {
		if p.Name == "T" && p.Max != nil {
			maxT = int(*p.Max)
		}
	}
	if maxT == 0 {
		t.Fatal("the schedule's T has no upper bound")
	}
	s := losses.NewLossSecondMoment(maxT)
	for i := range s.History {
		for k := range s.History[i] {
			s.History[i][k] = -2.2250738585072014e-308
		}
		s.Count[i], s.Next[i] = losses.HistoryPerT, losses.HistoryPerT-1
	}
	b, err := s.State()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b))*2 > engine.MaxSamplerState {
		t.Errorf("the importance sampler's state at T = %d is %d bytes; the cap of %d leaves less than twice that", maxT, len(b), engine.MaxSamplerState)
	}
}
