package engine

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
	"github.com/ddpm-runner/ddpm-runner/spec"
)

// Evaluation during training ([eval] every = K): after every K-th training step the run's
// metrics are evaluated on the first EMA of the weights, on eval.n_during samples (drawn by
// the sampler eval.sampler_during) and as many held-out examples, and each value they
// report is recorded in the run's metric history at that step, beside the loss. The samples
// start from the same x_T at every evaluation, so that the history follows the weights,
// not the noise. An evaluation reads the weights and changes nothing that training uses:
// the loss history and the final weights are those of a run without it.
//
// With train.keep = "best:KEY", the regular checkpoint of the step whose evaluation had the
// best KEY so far is also kept, in the run's folder BestCheckpointDir. The run's final
// evaluation is still of its last weights; the summaries best_step and best_value say which
// step was kept and its KEY, and `runner sample ID --checkpoint best` samples from it.
//
// Resume: an evaluation's values are written in one transaction, after the best checkpoint
// (if the evaluation made one) is in place. A resumed run drops the history after its
// checkpoint's step, as for the loss, finds the best so far from the history that is left,
// and evaluates again at the checkpoint's step if that evaluation had not been written (the
// process stopped during it): every evaluation, and so the kept checkpoint, is then that of
// a run never interrupted.

// BestCheckpointDir is the folder, in a run's artifact folder, of the checkpoint kept by
// train.keep = "best:KEY".
const BestCheckpointDir = "checkpoint-best"

// DuringPhase is the phase (Options.Phase) of an evaluation during training.
const DuringPhase = "eval"

// during is what a job evaluates during training.
type during struct {
	every, n int
	// job is the run's job with the sampler of the evaluations during training.
	job *Job
	// keep is the KEY of train.keep = "best:KEY" ("" for none) and lower whether lower is
	// better for it.
	keep  string
	lower bool
}

// prepareDuring checks [eval] every and its companions and train.keep, and builds the
// sampler of the evaluations during training. Its errors are spec errors.
func (j *Job) prepareDuring() error {
	ev, tr := j.Trial.Settings.Eval, j.Trial.Settings.Train
	keep := tr.KeepBest()
	if tr.Keep != "last" && keep == "" {
		return fmt.Errorf(`[train] keep = %q: want "last" or "%sKEY" with KEY a value of one of [eval] metrics`, tr.Keep, spec.KeepBestPrefix)
	}
	if ev.Every == 0 {
		if keep != "" {
			return fmt.Errorf(`[train] keep = %q needs [eval] every = K, the evaluations during training that choose the best checkpoint`, tr.Keep)
		}
		return nil
	}
	if len(j.Metrics) == 0 {
		return fmt.Errorf("[eval] every = %d: [eval] metrics is empty, there is nothing to evaluate during training", ev.Every)
	}
	d := &during{every: ev.Every, n: ev.NDuring, keep: keep}
	if keep != "" {
		var reports []string
		found := false
		for _, nm := range j.Metrics {
			for _, rep := range nm.Plugin.Reports {
				if rep.Better == plugins.NotRanked {
					continue
				}
				reports = append(reports, rep.Key)
				if rep.Key == keep {
					found, d.lower = true, rep.Better == plugins.LowerIsBetter
				}
			}
		}
		if !found {
			return fmt.Errorf("[train] keep = %q: no metric of [eval] metrics reports a ranked value %q (valid: %s)",
				tr.Keep, keep, strings.Join(quoted(reports), ", "))
		}
	}
	sampler, err := j.duringSampler(ev)
	if err != nil {
		return err
	}
	dj := *j
	dj.Sampler = sampler
	if dj.SampleProcess, dj.SampleTimesteps, err = sampler.Plan(j.Diffusion.Process); err != nil {
		return fmt.Errorf("[eval] sampler_during: %w", err)
	}
	if p := j.Diffusion.Process; p.AlphaBar[p.T-1] == 0 {
		if r, ok := sampler.(plugins.ZeroSNRRefuser); ok {
			why, instead := r.RefuseZeroSNR()
			return fmt.Errorf("[eval] sampler_during: %s (alpha_bar_T = 0); %s", why, instead)
		}
	}
	d.job = &dj
	j.during = d
	return nil
}

// duringSampler builds the sampler of the evaluations during training: the plugin
// eval.sampler_during with its defaults, or the [sample] one with its parameters, with
// eval.sampler_during_steps steps when set.
func (j *Job) duringSampler(ev spec.EvalSettings) (plugins.Sampler, error) {
	name, raw := ev.SamplerDuring, map[string]any{}
	what := fmt.Sprintf("[eval] sampler_during = %q", name)
	if name == "" {
		c := j.Trial.Section("sample")
		name, what = c.Name, fmt.Sprintf("[sample] %s", c.Name)
		if ev.SamplerDuringSteps == 0 {
			return j.Sampler, nil
		}
		p, err := plugins.Lookup(plugins.KindSampler, name)
		if err != nil {
			return nil, err
		}
		for _, d := range p.Params {
			raw[d.Name] = c.Params[d.Name]
		}
	}
	p, err := plugins.Lookup(plugins.KindSampler, name)
	if err != nil {
		return nil, fmt.Errorf("[eval] sampler_during: %w", err)
	}
	if ev.SamplerDuringSteps > 0 {
		if !slices.ContainsFunc(p.Params, func(d plugins.Param) bool { return d.Name == "steps" }) {
			return nil, fmt.Errorf("[eval] sampler_during_steps = %d: %s takes no steps (one of %s does)",
				ev.SamplerDuringSteps, what, strings.Join(steppedSamplers(), ", "))
		}
		raw["steps"] = ev.SamplerDuringSteps
	}
	vals, err := p.Resolve(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	s, err := p.Build(vals)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return s.(plugins.Sampler), nil
}

// steppedSamplers are the samplers that take a number of steps.
func steppedSamplers() []string {
	var out []string
	for _, name := range plugins.Names(plugins.KindSampler) {
		p, _ := plugins.Lookup(plugins.KindSampler, name)
		if slices.ContainsFunc(p.Params, func(d plugins.Param) bool { return d.Name == "steps" }) {
			out = append(out, name)
		}
	}
	return out
}

func quoted(s []string) []string {
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = strconv.Quote(e)
	}
	return out
}

// best is the best value of the kept key so far and its step (0: none yet).
type best struct {
	step  int
	value float64
}

// duringLoop is the state of the evaluations during one training leg.
type duringLoop struct {
	r    *runner
	d    *during
	best best
	// seconds is the time spent evaluating in this leg.
	seconds float64
}

// startDuring prepares the evaluations during a training leg that starts after step done:
// the best so far is read back from the history left, and a fresh run (done = 0) starts
// without a kept checkpoint. Nil when the run evaluates only after training.
func (r *runner) startDuring(done int) (*duringLoop, error) {
	d := r.job.during
	if d == nil {
		return nil, nil
	}
	l := &duringLoop{r: r, d: d}
	if done == 0 {
		// A resume that starts over (no usable checkpoint) must not keep a best of its
		// first leg.
		if err := os.RemoveAll(filepath.Join(r.dir, BestCheckpointDir)); err != nil {
			return nil, err
		}
		return l, nil
	}
	if d.keep != "" {
		hist, err := r.opt.Store.History(r.id, d.keep)
		if err != nil {
			return nil, err
		}
		for _, p := range hist {
			l.consider(p.Step, p.Value)
		}
	}
	return l, nil
}

// consider takes the value of the kept key at step, and reports whether it is the best so
// far (a tie keeps the earlier step; a value that is not finite is never best).
func (l *duringLoop) consider(step int, v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	better := l.best.step == 0 || (l.d.lower && v < l.best.value) || (!l.d.lower && v > l.best.value)
	if better {
		l.best = best{step, v}
	}
	return better
}

// due reports whether the evaluation of step is due.
func (l *duringLoop) due(step int) bool { return l != nil && step > 0 && step%l.d.every == 0 }

// resumePending evaluates at the step the run resumes from (done) when that evaluation is
// due and was not written: the process stopped during it. The weights of that step are read
// from the restored checkpoint into a context of their own: loading them into the training
// context before its graph asks for them would create its variables in another order.
func (l *duringLoop) resumePending(ctx context.Context, loop *trainLoop, done int) error {
	if !l.due(done) {
		return nil
	}
	written, err := l.written(done)
	if err != nil || written {
		return err
	}
	trained := gctx.New().Checked(false)
	h, err := checkpoints.Build(trained).Dir(loop.ckpt.dir).Done()
	if err != nil {
		return fmt.Errorf("reading the step %d checkpoint to evaluate it: %w", done, err)
	}
	materialize(trained, h)
	return l.evaluate(ctx, loop, trained, done)
}

// written reports whether the evaluation of step is in the history: any value of a metric
// of the run at that step (an evaluation's values are written together).
func (l *duringLoop) written(step int) (bool, error) {
	for _, nm := range l.r.job.Metrics {
		for _, rep := range nm.Plugin.Reports {
			hist, err := l.r.opt.Store.History(l.r.id, rep.Key)
			if err != nil {
				return false, err
			}
			if slices.ContainsFunc(hist, func(p results.Point) bool { return p.Step == step }) {
				return true, nil
			}
		}
	}
	return false, nil
}

// after evaluates after training step when due, with the weights in r.ctx.
func (l *duringLoop) after(ctx context.Context, loop *trainLoop, step int) error {
	if !l.due(step) {
		return nil
	}
	return l.evaluate(ctx, loop, l.r.ctx, step)
}

// evaluate evaluates the weights of step in trained, keeps the checkpoint if it is the best
// so far, and writes the values.
func (l *duringLoop) evaluate(ctx context.Context, loop *trainLoop, trained *gctx.Context, step int) error {
	r := l.r
	r.opt.Phase(DuringPhase)
	defer r.opt.Phase("train")
	start := time.Now()
	vals, err := r.evaluateDuring(ctx, trained, l.d)
	if err != nil {
		return fmt.Errorf("evaluating at step %d: %w", step, err)
	}
	if l.d.keep != "" {
		v, ok := vals[l.d.keep]
		if ok && l.consider(step, v) {
			if err := l.keepBest(loop, step); err != nil {
				return err
			}
		}
	}
	mw := r.opt.Store.Metrics(r.id, len(vals)+1) // one transaction: the evaluation is written whole or not at all
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if err := mw.Add(k, step, vals[k]); err != nil {
			return err
		}
	}
	if err := mw.Flush(); err != nil {
		return err
	}
	l.seconds += time.Since(start).Seconds()
	return nil
}

// keepBest makes the regular checkpoint of step (writing it unless the newest is of step)
// the kept best: its files are linked (or copied) into a fresh folder that then replaces
// BestCheckpointDir.
func (l *duringLoop) keepBest(loop *trainLoop, step int) error {
	newest, newestStep, err := newestCheckpoint(loop.ckpt.dir)
	if err != nil {
		return err
	}
	if newestStep != step {
		// The training rows are flushed as for any checkpoint; the phase stays this
		// evaluation's.
		if err := loop.mw.Flush(); err != nil {
			return err
		}
		if err := loop.save(); err != nil {
			return err
		}
		if newest, newestStep, err = newestCheckpoint(loop.ckpt.dir); err != nil {
			return err
		}
		if newestStep != step {
			return fmt.Errorf("the checkpoint of step %d to keep as the best is of step %d", step, newestStep)
		}
	}
	dir := filepath.Join(l.r.dir, BestCheckpointDir)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	for _, ext := range []string{".bin", ".json"} {
		src := newest + ext
		dst := filepath.Join(tmp, filepath.Base(src))
		if err := os.Link(src, dst); err != nil {
			// Another file system, or none that links: a copy, read as the run's own file.
			if err := copyConfined(loop.ckpt.dir, src, dst, 1<<50); err != nil {
				return fmt.Errorf("keeping the best checkpoint: %w", err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// newestCheckpoint is the base path (without .json or .bin) of the newest checkpoint in dir
// and its step (0 when there is none).
func newestCheckpoint(dir string) (base string, step int, err error) {
	names, err := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if err != nil || len(names) == 0 {
		return "", 0, err
	}
	slices.Sort(names) // GoMLX numbers its checkpoints: the last name is the newest
	base = strings.TrimSuffix(names[len(names)-1], ".json")
	return base, checkpointStep(base), nil
}

// checkpointStep reads the step from a GoMLX checkpoint's name (...-step-00000150); 0 when
// the name has none.
func checkpointStep(name string) int {
	_, s, ok := strings.Cut(filepath.Base(name), "-step-")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, ".json"))
	if err != nil {
		return 0
	}
	return n
}

// elapsed is the time spent evaluating in this leg (zero for no evaluations).
func (l *duringLoop) elapsed() time.Duration {
	if l == nil {
		return 0
	}
	return time.Duration(l.seconds * float64(time.Second))
}

// summarize records the kept checkpoint's step and value and the time spent evaluating.
func (l *duringLoop) summarize() {
	if l == nil {
		return
	}
	l.r.timings["eval_during"] = l.seconds
	if l.d.keep != "" && l.best.step > 0 {
		l.r.summaries["best_step"] = float64(l.best.step)
		l.r.summaries["best_value"] = l.best.value
	}
}

// evaluateDuring samples with the first EMA of the weights in trained (the weights
// themselves without an EMA) and runs the run's metrics on d.n samples and held-out
// examples; it returns the values the metrics report. Nothing is recorded: no figures,
// speeds, bound records, artifacts or notes, which are the final evaluation's.
func (r *runner) evaluateDuring(ctx context.Context, trained *gctx.Context, d *during) (map[string]float64, error) {
	scope := ""
	if len(emaRates(r.job.Trial)) > 0 {
		scope = emaScope
	}
	evalCtx, err := evalContext(trained, newContext(r.be), scope)
	if err != nil {
		return nil, err
	}
	samples, _, err := Sample(ctx, r.backend, evalCtx, d.job, d.n)
	if err != nil {
		return nil, fmt.Errorf("sampling: %w", err)
	}
	in := r.evalInput(ctx, d.job, evalCtx, samples, d.job.Data.HeldOut(d.n), d.n, "", false)
	vals := map[string]float64{}
	for _, nm := range r.job.Metrics {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := nm.Metric.Evaluate(in)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", nm.Name, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for k, v := range res.Values {
			if !nm.Plugin.Declares(k) {
				return nil, fmt.Errorf("metric %s reported %q, which it does not declare in its Reports", nm.Name, k)
			}
			vals[k] = v
		}
	}
	return vals, nil
}
