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
