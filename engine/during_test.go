package engine_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// duringMNIST is a small MNIST run (7x7 digits, an MLP) evaluated with the classifier's FID
// every 30 steps, keeping the checkpoint of the best FID.
const duringMNIST = `name = "during"
[data]
name = "mnist"
size = 7
[schedule]
name = "linear"
T = 40
[network]
name = "mlp"
hidden = [64]
embed = 8
[train]
steps = 120
batch = 32
lr = 2e-3
ema = 0.9
log_every = 1
checkpoint_every = 50
keep = "best:fid"
[sample]
name = "respaced"
steps = 10
n = 64
[eval]
metrics = ["fid"]
n = 64
every = 30
n_during = 64
sampler_during = "ddim"
sampler_during_steps = 5
`

// history is a run's values of key by step.
func (h *harness) history(id int64, key string) []results.Point {
	h.t.Helper()
	pts, err := h.store.History(id, key)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := range pts {
		pts[i].Wall = 0
	}
	return pts
}

func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

func samePoints(t *testing.T, what string, got, want []results.Point) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Step != want[i].Step || !sameBits(got[i].Value, want[i].Value) {
			t.Fatalf("%s: point %d is step %d = %v, want step %d = %v", what, i, got[i].Step, got[i].Value, want[i].Step, want[i].Value)
		}
	}
}

// bestWeights reads the kept best checkpoint of run id: every variable's bytes by name, but
// the trainer's moving averages of the loss (GoMLX names them with a new uuid in each
// process, so a resumed run's checkpoints carry one more pair, which no step reads).
func (h *harness) bestWeights(id int64) map[string][]byte {
	h.t.Helper()
	dir := filepath.Join(h.dir, "runs", itoa(id), engine.BestCheckpointDir)
	names, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if len(names) != 1 {
		h.t.Fatalf("run %d keeps %d best checkpoints in %s, want 1", id, len(names), dir)
	}
	handler, err := checkpoints.Build(gctx.New()).Dir(dir).Done()
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]byte{}
	for name, v := range handler.LoadedVariables() {
		if strings.HasPrefix(name, "var:/metrics/") {
			continue
		}
		v.ConstBytes(func(b []byte) { out[name] = slices.Clone(b) })
	}
	return out
}

// TestEvalDuringTrainingLeavesTrainingAlone: the default is no evaluation during training
// (the canonical form, and so the hash, of a spec without the new keys is unchanged), and
// evaluating every K steps changes neither the loss history nor the final weights, whose
// final evaluation and checkpoint are those of the run without it. The histories hold one
// value per evaluation, at its step.
func TestEvalDuringTrainingLeavesTrainingAlone(t *testing.T) {
	base := []string{"train.steps=60", `eval.metrics=["nll", "frechet"]`}
	trials, err := spec.Parse("test.toml", []byte(tiny), base)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"every", "n_during", "sampler_during", "keep"} {
		if strings.Contains(trials[0].Canonical(), `"`+key+`"`) {
			t.Errorf("the canonical form holds %q at its default: %s", key, trials[0].Canonical())
		}
	}
	if s := trials[0].Settings.Eval; s.Every != 0 || s.NDuring != 100 || s.SamplerDuring != "" || trials[0].Settings.Train.Keep != "last" {
		t.Errorf("defaults: %+v keep %q", s, trials[0].Settings.Train.Keep)
	}

	ref := newHarness(t)
	refOut := ref.run(ref.jobs(tiny, base...)[0])
	h := newHarness(t)
	out := h.run(h.jobs(tiny, append(base, "eval.every=20", "eval.n_during=16", "train.keep=best:frechet")...)[0])
	if refOut.Status != results.StatusFinished || out.Status != results.StatusFinished {
		t.Fatalf("%s %v / %s %v", refOut.Status, refOut.Err, out.Status, out.Err)
	}
	samePoints(t, "loss", h.history(out.RunID, "loss"), ref.history(refOut.RunID, "loss"))
	for _, k := range []string{"final_loss", "nll_nats_per_dim", "frechet", "mmd"} {
		if !sameBits(out.Summaries[k], refOut.Summaries[k]) {
			t.Errorf("summary %s: %v with evaluations during training, %v without", k, out.Summaries[k], refOut.Summaries[k])
		}
	}
	final := func(h *harness, id int64) []byte {
		names, _ := filepath.Glob(filepath.Join(h.dir, "runs", itoa(id), "checkpoint", "checkpoint-*-step-00000060.bin"))
		if len(names) == 0 {
			t.Fatalf("run %d has no checkpoint of step 60", id)
		}
		b, err := os.ReadFile(names[len(names)-1])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !slices.Equal(final(h, out.RunID), final(ref, refOut.RunID)) {
		t.Error("the final checkpoints differ")
	}
	for _, key := range []string{"frechet", "nll_nats_per_dim"} {
		var steps []int
		for _, p := range h.history(out.RunID, key) {
			steps = append(steps, p.Step)
		}
		if !slices.Equal(steps, []int{20, 40, 60}) {
			t.Errorf("%s evaluated at steps %v, want 20, 40, 60", key, steps)
		}
		if pts := ref.history(refOut.RunID, key); len(pts) != 0 {
			t.Errorf("%s has a history without eval.every: %v", key, pts)
		}
	}
	// The kept checkpoint is that of the best frechet in the history.
	bestStep, bestValue := 0, math.Inf(1)
	for _, p := range h.history(out.RunID, "frechet") {
		if p.Value < bestValue {
			bestStep, bestValue = p.Step, p.Value
		}
	}
	if out.Summaries["best_step"] != float64(bestStep) || out.Summaries["best_value"] != bestValue {
		t.Errorf("best_step %v best_value %v, the history's best is %v at step %d", out.Summaries["best_step"], out.Summaries["best_value"], bestValue, bestStep)
	}
	names, _ := filepath.Glob(filepath.Join(h.dir, "runs", itoa(out.RunID), engine.BestCheckpointDir, "*.json"))
	if len(names) != 1 || !strings.HasSuffix(names[0], "-step-"+padStep(bestStep)+".json") {
		t.Errorf("kept checkpoint %v, want the one of step %d", names, bestStep)
	}
}

func padStep(s int) string {
	b := []byte("00000000")
	d := []byte(itoa(int64(s)))
	copy(b[len(b)-len(d):], d)
	return string(b)
}

// TestEvalDuringTrainingBadSettings: the settings that cannot work are refused, naming the
// key and what would be valid.
func TestEvalDuringTrainingBadSettings(t *testing.T) {
	for _, c := range []struct {
		sets []string
		want string
	}{
		{[]string{"train.keep=best:frechet"}, "needs [eval] every"},
		{[]string{"train.keep=first", "eval.every=10"}, `[train] keep = "first": want "last" or "best:KEY"`},
		{[]string{"train.keep=best:fid", "eval.every=10"}, `no metric of [eval] metrics reports a ranked value "fid" (valid: "frechet")`},
		{[]string{"train.keep=best:frechet_data_floor", "eval.every=10"}, "ranked value"},
		{[]string{"eval.every=10", "eval.metrics=[]"}, "[eval] metrics is empty"},
		{[]string{"eval.every=10", "eval.sampler_during=nope"}, "[eval] sampler_during"},
		{[]string{"eval.every=10", "eval.sampler_during_steps=5"}, "ancestral takes no steps"},
	} {
		trials, err := spec.Parse("test.toml", []byte(tiny), append([]string{`eval.metrics=["frechet"]`}, c.sets...))
		if err != nil {
			t.Fatalf("%v: %v", c.sets, err)
		}
		_, err = engine.Prepare(trials[0])
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.sets, err, c.want)
		}
	}
}

// TestKeepBestResumeIsBitIdentical: a run with [eval] every and train.keep = "best:fid"
// stopped by a signal, during training or during an evaluation, and resumed (once or
// twice) ends with the loss and FID histories, the kept step, value and weights and the
// final summaries of the run never stopped, bit for bit.
func TestKeepBestResumeIsBitIdentical(t *testing.T) {
	ref := newHarness(t)
	refOut := ref.run(ref.jobs(duringMNIST)[0])
	if refOut.Status != results.StatusFinished {
		t.Fatalf("reference: %s %v", refOut.Status, refOut.Err)
	}
	if pts := ref.history(refOut.RunID, "fid"); len(pts) != 4 {
		t.Fatalf("fid history %v, want 4 evaluations", pts)
	}
	wantBest := ref.bestWeights(refOut.RunID)
	for _, c := range []struct {
		name string
		// stops lists where each leg is stopped: the nth start of a phase.
		stops []stop
	}{
		{"during the second evaluation", []stop{{engine.DuringPhase, 2}}},
		{"during the last evaluation", []stop{{engine.DuringPhase, 4}}},
		{"while training, then during an evaluation", []stop{{"checkpoint", 2}, {engine.DuringPhase, 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			var id int64
			for leg, s := range c.stops {
				ctx, cancel := context.WithCancel(context.Background())
				opt := engine.Options{Store: h.store, Phase: s.cancelAt(cancel)}
				var out engine.Outcome
				if leg == 0 {
					out = engine.Run(ctx, h.jobs(duringMNIST)[0], opt)
					id = out.RunID
				} else {
					out = engine.Resume(ctx, h.jobs(duringMNIST)[0], opt, id)
				}
				cancel()
				if out.Status != results.StatusInterrupted {
					t.Fatalf("leg %d: %s %v, want interrupted", leg+1, out.Status, out.Err)
				}
				if leg == 0 && s.phase == engine.DuringPhase {
					// Stopped inside the evaluation: its values were not written, and the
					// checkpoint is of its step.
					r, _ := h.store.Run(id)
					if n := len(h.history(id, "fid")); n != s.nth-1 || r.Summaries["interrupted_at_step"] != float64(30*s.nth) {
						t.Fatalf("stopped in evaluation %d: %d evaluations written, stopped at step %v", s.nth, n, r.Summaries["interrupted_at_step"])
					}
				}
			}
			res := engine.Resume(context.Background(), h.jobs(duringMNIST)[0], engine.Options{Store: h.store}, id)
			if res.Status != results.StatusFinished {
				t.Fatalf("resume: %s %v", res.Status, res.Err)
			}
			for _, k := range []string{"loss", "fid", "fid_data_floor"} {
				samePoints(t, k, h.history(id, k), ref.history(refOut.RunID, k))
			}
			for _, k := range []string{"final_loss", "fid", "best_step", "best_value"} {
				if !sameBits(res.Summaries[k], refOut.Summaries[k]) {
					t.Errorf("summary %s: resumed %v, uninterrupted %v", k, res.Summaries[k], refOut.Summaries[k])
				}
			}
			got := h.bestWeights(id)
			if len(got) != len(wantBest) {
				t.Fatalf("kept checkpoint has %d variables, uninterrupted %d", len(got), len(wantBest))
			}
			for name, b := range wantBest {
				if !slices.Equal(got[name], b) {
					t.Fatalf("kept checkpoint: %s differs from the uninterrupted run's", name)
				}
			}
		})
	}
}

// stop cancels a leg at the nth start of a phase.
type stop struct {
	phase string
	nth   int
}

func (s stop) cancelAt(cancel context.CancelFunc) func(string) {
	seen := 0
	return func(p string) {
		if p == s.phase {
			if seen++; seen == s.nth {
				cancel()
			}
		}
	}
}
