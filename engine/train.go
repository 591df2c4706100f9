package engine

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	gmetrics "github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// newContext is a GoMLX context configured for the backend: networks build their
// convolutions as the backend asks (backend.Backend.Im2colConv).
func newContext(b *backend.Backend) *gctx.Context {
	ctx := gctx.New()
	impl := plugins.ConvNative
	if b.Im2colConv() {
		impl = plugins.ConvIm2col
	}
	ctx.SetParam(plugins.ParamConv, impl)
	return ctx
}

// train runs the training steps of the run (from its checkpoint when resuming), logging the
// loss, MSE and L_t, checkpointing, and stopping at a signal with a checkpoint.
func (r *runner) train(ctx context.Context) (interrupted bool, err error) {
	trainer, ckpt, first, err := r.startTraining()
	if err != nil {
		return false, err
	}
	steps := r.job.Trial.Settings.Train.Steps
	loop := &trainLoop{r: r, trainer: trainer, ckpt: ckpt, mw: r.opt.Store.Metrics(r.id, r.opt.MetricBatch),
		batches: newBatchSource(r.backend, r.job), compiled: map[[2]any]bool{}, lastFinite: math.NaN()}
	defer loop.batches.close()
	ev, err := r.startDuring(first - 1)
	if err != nil {
		return false, err
	}
	prog := newProgress(r.opt.Progress, fmt.Sprintf("run %d", r.id), first-1, steps)
	defer prog.done()

	r.opt.Phase("train")
	start := time.Now()
	if ev != nil {
		// A signal during this evaluation stops the run at the first step below.
		if err := ev.resumePending(ctx, loop, first-1); err != nil && ctx.Err() == nil {
			return false, err
		}
	}
	for step := first; step <= steps; step++ {
		if ctx.Err() != nil {
			r.timings["train"] = time.Since(start).Seconds()
			if err := loop.checkpoint(); err != nil {
				return true, err
			}
			r.summaries["interrupted_at_step"] = float64(step - 1)
			return true, nil
		}
		loss, err := loop.step(step)
		if err != nil {
			return false, err
		}
		if ev != nil {
			// A signal during the evaluation: the next step checkpoints and stops, and
			// resume evaluates this step again.
			if err := ev.after(ctx, loop, step); err != nil && ctx.Err() == nil {
				return false, err
			}
		}
		prog.step(step, loss)
	}
	if ev != nil && ctx.Err() != nil {
		// Stopped during the evaluation of the last step: the checkpoint of that step is
		// written below, and resume evaluates it again.
		r.timings["train"] = time.Since(start).Seconds()
		if err := loop.checkpoint(); err != nil {
			return true, err
		}
		r.summaries["interrupted_at_step"] = float64(steps)
		return true, nil
	}
	ev.summarize()
	trainTime := time.Since(start)
	r.timings["compile"] = loop.compileTime.Seconds()
	r.timings["train"] = trainTime.Seconds()
	if err := loop.checkpoint(); err != nil {
		return false, err
	}
	if err := r.summarizeTraining(first, len(loop.compiled), trainTime-loop.compileTime-ev.elapsed()); err != nil {
		return false, err
	}
	return false, nil
}

// startTraining builds the trainer on a fresh context and opens the checkpoints; a resume
// loads the last readable checkpoint and its timestep sampler state. first is the first
// step left to train.
func (r *runner) startTraining() (trainer *train.Trainer, ckpt *checkpointer, first int, err error) {
	j := r.job
	r.ctx = newContext(r.be)
	initOnGo := !r.resume && initialisesOnGo(r.be.Choice(), r.opt.InitialiseOnGo)
	if r.resume || initOnGo {
		// The checkpoint (or the go backend) gives the variables values before the graph
		// asks for them: let the graph reuse them (and still create the trainer's own
		// bookkeeping variables).
		r.ctx = r.ctx.Checked(false)
	}
	// The trainer seeds the context's random state before the checkpoint, if any, replaces it.
	if trainer, err = j.newTrainer(r.backend, r.ctx); err != nil {
		return nil, nil, 0, err
	}
	if initOnGo {
		if err := j.initialiseOnGo(r.ctx, r.be.Choice().Kernel); err != nil {
			return nil, nil, 0, err
		}
	}
	restored := false
	var setAside []string
	ckpt, restored, setAside, err = openCheckpoints(r.ctx, j, filepath.Join(r.dir, "checkpoint"), r.resume)
	if len(setAside) > 0 {
		// The record says why this run went back further than its newest checkpoint.
		if err := r.addEnvList(SetAsideEnvKey, setAside); err != nil {
			return nil, nil, 0, err
		}
	}
	if err != nil {
		return nil, nil, 0, err
	}
	if !r.resume {
		return trainer, ckpt, 1, nil
	}
	if !restored {
		// Killed while writing its first checkpoint: nothing to resume from, so the run
		// trains again from step 1, without the metrics its first leg logged.
		if err := r.opt.Store.TruncateMetrics(r.id, 0); err != nil {
			return nil, nil, 0, err
		}
		return trainer, ckpt, 1, nil
	}
	done, err := ckpt.restoreTimesteps(r.ctx, j.Timesteps)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := r.opt.Store.TruncateMetrics(r.id, done); err != nil {
		return nil, nil, 0, err
	}
	if done >= j.Trial.Settings.Train.Steps {
		// Training had ended when the run stopped: no step will build the graph that
		// would load the variables, and sampling reads them from the context.
		materialize(r.ctx, ckpt.handler)
	}
	return trainer, ckpt, done + 1, nil
}

// SetAsideEnvKey lists, in a resumed run's env, the checkpoints that resume moved aside as
// broken, each with why.
const SetAsideEnvKey = "resume.set_aside"

// addEnvList appends items to the "; "-separated list kept in the run's env under key.
func (r *runner) addEnvList(key string, items []string) error {
	rec, err := r.opt.Store.Run(r.id)
	if err != nil {
		return err
	}
	if old := rec.Env[key]; old != "" {
		items = append([]string{old}, items...)
	}
	return r.opt.Store.AddEnv(r.id, map[string]string{key: strings.Join(items, "; ")})
}

// summarizeTraining records the final loss and the training speed of this process's steps
// (timed excludes the steps that compiled a graph variant).
func (r *runner) summarizeTraining(first, compiledSteps int, timed time.Duration) error {
	steps := r.job.Trial.Settings.Train.Steps
	// The final loss is the mean of the losses logged in the last tenth of training, read
	// back from the store so that a resumed run reports what an uninterrupted one would.
	hist, err := r.opt.Store.History(r.id, "loss")
	if err != nil {
		return err
	}
	from := steps - max(steps/10, 1)
	var sum float64
	var n int
	for _, p := range hist {
		if p.Step > from {
			sum += p.Value
			n++
		}
	}
	r.summaries["final_loss"] = sum / float64(n)
	if leg := steps - first + 1; leg > 1 {
		if counted := leg - compiledSteps; counted > 0 {
			r.summaries["steps_per_sec"] = float64(counted) / timed.Seconds()
		}
	}
	return nil
}

// trainLoop is the state that the steps of one training leg share.
type trainLoop struct {
	r          *runner
	trainer    *train.Trainer
	ckpt       *checkpointer
	mw         *results.MetricWriter
	batches    *batchSource
	lastFinite float64
	lastStep   int // step of lastFinite
	// Each graph variant (logging or not, decoder rows: usual or whole batch) is built and
	// compiled on its first step; those steps count as compile time, not training speed.
	compiled    map[[2]any]bool
	compileTime time.Duration
}

// step trains one step and logs it when due; it returns the step's loss, or errDiverged
// when the loss is not finite.
func (l *trainLoop) step(step int) (float64, error) {
	r, j := l.r, l.r.job
	tr := &j.Trial.Settings.Train
	steps, logEvery, ckptEvery := tr.Steps, tr.LogEvery, tr.CheckpointEvery
	inputs, bb, err := l.batches.next(step)
	if err != nil {
		return 0, fmt.Errorf("step %d: %w", step, err)
	}
	logged := step%logEvery == 0 || step == steps || step == 1
	var spec any
	if logged {
		spec = logStep
	}
	start := time.Now()
	raw, err := l.trainer.TrainStep(spec, inputs, nil)
	if err != nil {
		return 0, fmt.Errorf("step %d: %w", step, err)
	}
	if variant := [2]any{spec, inputs[decoderRowsInput].Shape().Size()}; !l.compiled[variant] {
		l.compiled[variant] = true
		l.compileTime += time.Since(start)
	}
	out := readStepOutputs(raw)
	if math.IsNaN(out.loss) || math.IsInf(out.loss, 0) {
		_ = l.mw.Add("loss", step, out.loss)
		_ = l.mw.Flush()
		r.summaries["diverged_at_step"] = float64(step)
		r.summaries["last_finite_loss"] = l.lastFinite
		return out.loss, fmt.Errorf("%w: loss is %v at step %d (last finite loss %.6g at step %d)",
			errDiverged, out.loss, step, l.lastFinite, l.lastStep)
	}
	l.lastFinite, l.lastStep = out.loss, step
	j.Timesteps.Update(bb.ts, out.perExample)
	if logged {
		for _, kv := range []struct {
			k string
			v float64
		}{{"loss", out.loss}, {"mse", out.mse}, {"vlb_t", out.vlb}} {
			if err := l.mw.Add(kv.k, step, kv.v); err != nil {
				return out.loss, err
			}
		}
		for q, n := range out.vlbCounts { // a quartile with no example in the batch is not logged
			if n > 0 {
				if err := l.mw.Add(fmt.Sprintf("vlb_t_q%d", q), step, float64(out.vlbSums[q])/float64(n)); err != nil {
					return out.loss, err
				}
			}
		}
	}
	if ckptEvery > 0 && step%ckptEvery == 0 && step < steps {
		if err := l.checkpoint(); err != nil {
			return out.loss, err
		}
	}
	return out.loss, nil
}

// checkpoint flushes the logged metrics and saves a checkpoint with the sampler's state.
func (l *trainLoop) checkpoint() error {
	if err := l.mw.Flush(); err != nil {
		return err
	}
	l.r.opt.Phase("checkpoint")
	defer l.r.opt.Phase("train")
	return l.save()
}

// save saves a checkpoint with the sampler's state, in the current phase.
func (l *trainLoop) save() error { return l.ckpt.save(l.r.ctx, l.r.job.Timesteps) }

// newTrainer builds the GoMLX trainer of a job on ctx, seeding ctx's random state (used to
// initialise the weights) from the trial's seed.
func (j *Job) newTrainer(backend backends.Backend, ctx *gctx.Context) (*train.Trainer, error) {
	tr := &j.Trial.Settings.Train
	if err := ctx.SetRNGStateFromSeed(int64(j.Trial.Seed)); err != nil {
		return nil, err
	}
	adam := optimizers.Adam().LearningRate(tr.LR).WeightDecay(tr.WeightDecay).Done()
	opt := &optimizer{adam: adam.(gradientOptimizer), lr: tr.LR, warmup: tr.Warmup,
		clip: tr.GradClip, emaDecays: emaRates(j.Trial)}
	var extra []gmetrics.Interface
	for i, name := range trainOutputs {
		extra = append(extra, passthrough{name: name, index: i})
	}
	return train.NewTrainer(backend, ctx, j.trainModelFn, nil, opt, extra, nil), nil
}

// stepOutputs are the values one training step hands back.
type stepOutputs struct {
	loss       float64   // the batch's (importance-weighted) loss
	perExample []float32 // unweighted per-example losses, for the timestep sampler
	mse, vlb   float64   // batch means of the MSE and L_t (zero on steps that do not log)
	// vlbSums and vlbCounts are the sum of L_t and the number of examples in each quartile
	// of t (zero on steps that do not log).
	vlbSums, vlbCounts []float32
}

// readStepOutputs names the trainer's outputs: its own batch loss and moving average of it,
// then the values of trainOutputs in order.
func readStepOutputs(out []*tensors.Tensor) stepOutputs {
	const trainerOwn = 2
	at := func(name string) *tensors.Tensor { return out[trainerOwn+slices.Index(trainOutputs, name)] }
	q := tensors.MustCopyFlatData[float32](at("vlb_quartiles"))
	return stepOutputs{loss: scalar(out[0]), perExample: tensors.MustCopyFlatData[float32](at("per_example")),
		mse: scalar(at("mse")), vlb: scalar(at("vlb_t")), vlbSums: q[:vlbQuartiles], vlbCounts: q[vlbQuartiles:]}
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}
