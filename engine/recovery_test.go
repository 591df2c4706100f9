package engine_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// sameSummaries compares the model summaries (not the timing ones) of two outcomes bit for bit.
func sameSummaries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if k == "steps_per_sec" || k == "samples_per_sec" || k == "seconds_per_sample" {
			continue
		}
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: summary %s missing", what, k)
			continue
		}
		if math.Float64bits(g) != math.Float64bits(w) && !(math.IsNaN(g) && math.IsNaN(w)) {
			t.Errorf("%s: summary %s = %v, uninterrupted %v", what, k, g, w)
		}
	}
}

// cancelAtPhase cancels the run's context when it enters the named phase (the nth time).
func cancelAtPhase(name string, nth int, cancel context.CancelFunc) func(string) {
	seen := 0
	return func(p string) {
		if p == name {
			seen++
			if seen == nth {
				cancel()
			}
		}
	}
}

// TestResumeEveryTimestepSamplerAndLoss interrupts and resumes a run for every timestep
// sampler (the default, uniform, first) and every loss, and checks that the finished
// history and summaries equal an uninterrupted run's bit for bit. Uniform once could not be
// resumed at all ("Unmarshal(non-pointer losses.Uniform)").
func TestResumeEveryTimestepSamplerAndLoss(t *testing.T) {
	for _, ts := range []string{"uniform", "importance"} {
		for _, loss := range []string{"simple", "vlb", "hybrid"} {
			t.Run(ts+"/"+loss, func(t *testing.T) {
				sets := []string{"train.steps=40", "train.log_every=1", "train.checkpoint_every=15",
					"loss.name=" + loss, "loss.timesteps=" + ts, "predictor.variance=learned_range", `eval.metrics=["nll"]`}
				ref := newHarness(t)
				refOut := ref.run(ref.jobs(tiny, sets...)[0])
				if refOut.Status != results.StatusFinished {
					t.Fatalf("reference: %s %v", refOut.Status, refOut.Err)
				}
				h := newHarness(t)
				ctx, cancel := context.WithCancel(context.Background())
				// The second checkpoint phase is the one at step 30; the loop then stops at 31.
				out := engine.Run(ctx, h.jobs(tiny, sets...)[0], engine.Options{Store: h.store, Phase: cancelAtPhase("checkpoint", 2, cancel)})
				cancel()
				if out.Status != results.StatusInterrupted {
					t.Fatalf("first leg: %s %v", out.Status, out.Err)
				}
				res := engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, out.RunID)
				if res.Status != results.StatusFinished {
					t.Fatalf("resume: %s %v", res.Status, res.Err)
				}
				sameHistory(t, "resumed", h.losses(out.RunID), ref.losses(refOut.RunID))
				sameSummaries(t, "resumed", res.Summaries, refOut.Summaries)
			})
		}
	}
}

// TestInterruptWhileSamplingOrEvaluatingThenResume: a signal during sampling or a metric
// stops the run promptly as interrupted (not finished), and resume samples and evaluates
// again from the final checkpoint, to the uninterrupted numbers.
func TestInterruptWhileSamplingOrEvaluatingThenResume(t *testing.T) {
	sets := []string{"train.steps=20", `eval.metrics=["frechet", "nll"]`}
	ref := newHarness(t)
	refOut := ref.run(ref.jobs(tiny, sets...)[0])
	for _, phase := range []string{"sample", "metric.frechet", "metric.nll"} {
		t.Run(phase, func(t *testing.T) {
			h := newHarness(t)
			ctx, cancel := context.WithCancel(context.Background())
			out := engine.Run(ctx, h.jobs(tiny, sets...)[0], engine.Options{Store: h.store, Phase: cancelAtPhase(phase, 1, cancel)})
			cancel()
			rec, _ := h.store.Run(out.RunID)
			if out.Status != results.StatusInterrupted || rec.Status != results.StatusInterrupted {
				t.Fatalf("interrupted in %s: outcome %s, recorded %s (%v)", phase, out.Status, rec.Status, out.Err)
			}
			res := engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, out.RunID)
			if res.Status != results.StatusFinished {
				t.Fatalf("resume after an interrupt in %s: %s %v", phase, res.Status, res.Err)
			}
			sameHistory(t, "resumed", h.losses(out.RunID), ref.losses(refOut.RunID))
			sameSummaries(t, "resumed", res.Summaries, refOut.Summaries)
		})
	}
}

// TestSecondResumeIsRefused: while one resume owns the run, another is refused and changes
// nothing; the run's loss history has each step once.
func TestSecondResumeIsRefused(t *testing.T) {
	sets := []string{"train.steps=60", "train.checkpoint_every=10", "train.log_every=1"}
	h := newHarness(t)
	out := h.interruptedRun(sets)
	var second engine.Outcome
	var once sync.Once
	phase := func(p string) {
		if p == "train" {
			once.Do(func() {
				second = engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, out.RunID)
			})
		}
	}
	res := engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store, Phase: phase}, out.RunID)
	if res.Status != results.StatusFinished {
		t.Fatalf("first resume: %s %v", res.Status, res.Err)
	}
	var refused *engine.RefusedError
	if !errors.As(second.Err, &refused) || !strings.Contains(second.Err.Error(), "another process") {
		t.Fatalf("second resume while the first ran: %s %v, want refused", second.Status, second.Err)
	}
	if n := len(h.losses(out.RunID)); n != 60 {
		t.Errorf("%d loss rows for 60 steps", n)
	}
	// Once finished, a resume is refused too.
	again := engine.Resume(context.Background(), h.jobs(tiny, sets...)[0], engine.Options{Store: h.store}, out.RunID)
	if !errors.As(again.Err, &refused) {
		t.Errorf("resume of a finished run: %v", again.Err)
	}
}

// TestHeartbeatBeatsDuringALongMetric: the heartbeat is kept by its own goroutine, so a
// metric that runs for long does not make the live run look crashed.
func TestHeartbeatBeatsDuringALongMetric(t *testing.T) {
	h := newHarness(t)
	var before, after string
	phase := func(p string) {
		if p == "metric.frechet" {
			r, _ := h.store.Run(1)
			before = r.Heartbeat
			time.Sleep(300 * time.Millisecond) // a metric that takes a while
			r, _ = h.store.Run(1)
			after = r.Heartbeat
		}
	}
	out := engine.Run(context.Background(), h.jobs(tiny, `eval.metrics=["frechet"]`)[0],
		engine.Options{Store: h.store, Phase: phase, HeartbeatEvery: 20 * time.Millisecond})
	if out.Status != results.StatusFinished {
		t.Fatalf("%s %v", out.Status, out.Err)
	}
	tb, errB := time.Parse(time.RFC3339Nano, before)
	ta, errA := time.Parse(time.RFC3339Nano, after)
	if errB != nil || errA != nil || !ta.After(tb) {
		t.Errorf("heartbeat %q before a 300 ms metric, %q after: it did not beat", before, after)
	}
}

// TestReconcileRecordsADeadOwner: a run left "running" by a process that is gone (its lock
// free) is recorded as interrupted when it has a checkpoint and failed when it has none,
// and a live run (its lock held) is left alone. A sample run needs no checkpoint of its own
// (resume samples again from its parent's): it is interrupted, never failed.
func TestReconcileRecordsADeadOwner(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 3; i++ {
		var env map[string]string
		if i == 3 {
			env = map[string]string{engine.KindEnvKey: "sample"}
		}
		if _, err := h.store.CreateRun(results.NewRun{Spec: "dead", SpecFile: "d.toml", Hash: "h", GroupHash: "g", Resolved: "{}", Env: env}); err != nil {
			t.Fatal(err)
		}
	}
	root, err := h.store.ClaimArtifactRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Run 1 died after a checkpoint; runs 2 and 3 died before one. Their lock files exist,
	// unlocked.
	for _, id := range []string{"1", "2", "3"} {
		if err := os.MkdirAll(filepath.Join(root, id, "checkpoint"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, id, "run.lock"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "1", "checkpoint", "checkpoint-n0000001-00000010.bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A live run: its owner (this test) holds the lock while Reconcile looks.
	phaseSeen := map[int64]string{}
	live := engine.Run(context.Background(), h.jobs(tiny)[0], engine.Options{Store: h.store, Phase: func(p string) {
		if p == "train" {
			ids, err := engine.Reconcile(h.store)
			if err != nil {
				t.Error(err)
			}
			for _, id := range ids {
				r, _ := h.store.Run(id)
				phaseSeen[id] = r.Status
			}
		}
	}})
	if live.Status != results.StatusFinished {
		t.Fatalf("live run: %s %v", live.Status, live.Err)
	}
	if len(phaseSeen) != 3 || phaseSeen[1] != results.StatusInterrupted || phaseSeen[2] != results.StatusFailed || phaseSeen[3] != results.StatusInterrupted {
		t.Errorf("reconciled %v, want runs 1 and 3 (a sample run) interrupted and run 2 failed, and not the live run %d", phaseSeen, live.RunID)
	}
	r, _ := h.store.Run(2)
	if !strings.Contains(r.Error, "crashed") {
		t.Errorf("run 2's error %q does not say it crashed", r.Error)
	}
}

// TestArtifactFolderBelongsToOneDatabase: two databases in one folder keep their runs'
// artifacts apart, and a folder marked by another database is refused before any record.
func TestArtifactFolderBelongsToOneDatabase(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *results.Store {
		s, err := results.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open("a.db"), open("b.db")
	h := &harness{t: t, dir: dir}
	outA := engine.Run(context.Background(), h.jobs(tiny)[0], engine.Options{Store: a})
	outB := engine.Run(context.Background(), h.jobs(tiny)[0], engine.Options{Store: b})
	if outA.Status != results.StatusFinished || outB.Status != results.StatusFinished || outA.RunID != 1 || outB.RunID != 1 {
		t.Fatalf("runs: %+v %+v", outA, outB)
	}
	for _, p := range []string{"a/1/checkpoint", "b/1/checkpoint"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if stale, _ := filepath.Glob(filepath.Join(dir, "*", "*.stale-*")); len(stale) > 0 {
		t.Errorf("artifacts moved aside: %v", stale)
	}
	// a.sqlite would share a/ with a.db: refused, with nothing recorded.
	c := open("a.sqlite")
	out := engine.Run(context.Background(), h.jobs(tiny)[0], engine.Options{Store: c})
	if out.Err == nil || out.RunID != 0 || !strings.Contains(out.Err.Error(), "belongs to another database") {
		t.Fatalf("a.sqlite beside a.db: %+v", out)
	}
	if runs, _ := c.Runs(results.Filter{}); len(runs) != 0 {
		t.Errorf("%d runs recorded in a refused database", len(runs))
	}
}
