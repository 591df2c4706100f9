package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train"
	gmetrics "github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// newContext is a GoMLX context configured for the backend: the pure-Go backend cannot
// differentiate native convolutions, so networks use the im2col ones there.
func newContext(backend string) *gctx.Context {
	ctx := gctx.New()
	impl := plugins.ConvNative
	if strings.HasPrefix(backend, "go") {
		impl = plugins.ConvIm2col
	}
	ctx.SetParam(plugins.ParamConv, impl)
	return ctx
}

// timestepsFile is where the timestep sampler's state at a checkpoint step is kept.
func timestepsFile(dir string, step int) string {
	return filepath.Join(dir, fmt.Sprintf("timesteps-step-%08d.json", step))
}

// pruneTimesteps keeps the newest keep sampler-state files (checkpoints keep two).
func pruneTimesteps(dir string, keep int) error {
	files, err := filepath.Glob(filepath.Join(dir, "timesteps-step-*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	for len(files) > keep {
		if err := os.Remove(files[0]); err != nil {
			return err
		}
		files = files[1:]
	}
	return nil
}

// dropBrokenCheckpoints moves aside the newest checkpoints that cannot be read, so that a
// run killed while writing one (kill -9, power loss) resumes from the one before. Each is
// tried on a scratch context; what is moved aside keeps its files with a .broken suffix.
func dropBrokenCheckpoints(dir string) error {
	for {
		_, err := checkpoints.Build(gctx.New()).Dir(dir).Done()
		if err == nil {
			return nil
		}
		bins, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.bin"))
		if len(bins) < 2 {
			return fmt.Errorf("no readable checkpoint in %s: %w", dir, err)
		}
		sort.Strings(bins)
		base := strings.TrimSuffix(bins[len(bins)-1], ".bin")
		for _, ext := range []string{".bin", ".json"} {
			if _, statErr := os.Stat(base + ext); statErr == nil {
				if err := os.Rename(base+ext, base+ext+".broken"); err != nil {
					return err
				}
			}
		}
	}
}

// noiseStream separates the timestep-and-noise stream of a step from the dataset's own
// stream for the same (seed, step).
const noiseStream = 0x9e3779b97f4a7c15

// batchRNG is the random stream of one training step's timesteps and noise. Like the data,
// it is a pure function of (seed, step), so a resumed run sees exactly what it would have.
func batchRNG(seed, step int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^noiseStream, uint64(step)))
}

func (r *runner) train(ctx context.Context) (interrupted bool, err error) {
	j, tr := r.job, r.job.Trial.Train()
	steps, batch, dim := tr.Int("steps"), tr.Int("batch"), j.Data.Dim()
	r.ctx = newContext(r.job.Trial.Backend)
	if r.resume {
		// The checkpoint loads the variables before the graph asks for them: let the graph
		// reuse them (and still create the trainer's own bookkeeping variables).
		r.ctx = r.ctx.Checked(false)
	}
	trainer, err := j.newTrainer(r.backend, r.ctx)
	if err != nil {
		return false, err
	}

	ckptDir := filepath.Join(r.dir, "checkpoint")
	if r.resume { // claim has checked that a checkpoint is there
		if err := dropBrokenCheckpoints(ckptDir); err != nil {
			return false, err
		}
	}
	ckpt, err := checkpoints.Build(r.ctx).Dir(ckptDir).Keep(2).Done()
	if err != nil {
		return false, fmt.Errorf("checkpoints: %w", err)
	}
	first := 1
	if r.resume {
		done := int(optimizers.GetGlobalStep(r.ctx))
		b, err := os.ReadFile(timestepsFile(ckptDir, done))
		if err != nil {
			return false, fmt.Errorf("timestep sampler state of the step %d checkpoint: %w", done, err)
		}
		if err := j.Timesteps.SetState(b); err != nil {
			return false, fmt.Errorf("step %d checkpoint: %w", done, err)
		}
		if err := r.opt.Store.TruncateMetrics(r.id, done); err != nil {
			return false, err
		}
		first = done + 1
		if first > steps {
			// Training had ended when the run stopped: no step will build the graph that
			// would load the variables, and sampling reads them from the context.
			materialize(r.ctx, ckpt)
		}
	}
	mw := r.opt.Store.Metrics(r.id, r.opt.MetricBatch)
	prog := newProgress(r.opt.Progress, fmt.Sprintf("run %d", r.id), 0, steps)
	defer prog.done()

	bb := newBatchBuffers(batch, dim)
	logEvery, ckptEvery := tr.Int("log_every"), tr.Int("checkpoint_every")
	lastFinite, lastFiniteStep := math.NaN(), 0
	trainStart := time.Now()
	// Each graph variant (logging or not, decoder rows: usual or whole batch) is built and
	// compiled on its first step; those steps count as compile time, not training speed.
	var compileTime time.Duration
	compiled := map[[2]any]bool{}
	saveCheckpoint := func() error {
		if err := mw.Flush(); err != nil {
			return err
		}
		// The timestep sampler's state is saved per checkpoint step, so a resume that falls
		// back to an older checkpoint also gets the matching state. It is written (atomically)
		// before the checkpoint, so a process killed in between leaves no checkpoint without
		// its sampler state.
		r.opt.Phase("checkpoint")
		defer r.opt.Phase("train")
		step := int(optimizers.GetGlobalStep(r.ctx))
		state, err := j.Timesteps.State()
		if err != nil {
			return err
		}
		if err := writeAtomic(timestepsFile(ckptDir, step), state); err != nil {
			return err
		}
		if err := ckpt.Save(); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		return pruneTimesteps(ckptDir, 3)
	}

	r.opt.Phase("train")
	for step := first; step <= steps; step++ {
		if ctx.Err() != nil {
			r.timings["train"] = time.Since(trainStart).Seconds()
			if err := saveCheckpoint(); err != nil {
				return true, err
			}
			r.summaries["interrupted_at_step"] = float64(step - 1)
			return true, nil
		}
		inputs := j.batchInputs(step, bb)
		logged := step%logEvery == 0 || step == steps || step == 1
		var spec any
		if logged {
			spec = logStep
		}
		stepStart := time.Now()
		out, err := trainer.TrainStep(spec, inputs, nil)
		if err != nil {
			return false, fmt.Errorf("step %d: %w", step, err)
		}
		if variant := [2]any{spec, inputs[4].Shape().Size()}; !compiled[variant] {
			compiled[variant] = true
			compileTime += time.Since(stepStart)
		}
		loss := scalar(out[0])
		perExample := tensors.MustCopyFlatData[float32](out[2])
		mse, vlb := scalar(out[3]), scalar(out[4])
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			_ = mw.Add("loss", step, loss)
			_ = mw.Flush()
			r.summaries["diverged_at_step"] = float64(step)
			r.summaries["last_finite_loss"] = lastFinite
			return false, fmt.Errorf("%w: loss is %v at step %d (last finite loss %.6g at step %d)",
				errDiverged, loss, step, lastFinite, lastFiniteStep)
		}
		lastFinite, lastFiniteStep = loss, step
		j.Timesteps.Update(bb.ts, perExample)
		if logged {
			for _, kv := range []struct {
				k string
				v float64
			}{{"loss", loss}, {"mse", mse}, {"vlb_t", vlb}} {
				if err := mw.Add(kv.k, step, kv.v); err != nil {
					return false, err
				}
			}
		}
		if ckptEvery > 0 && step%ckptEvery == 0 && step < steps {
			if err := saveCheckpoint(); err != nil {
				return false, err
			}
		}
		prog.step(step, loss, step)
	}
	trainTime := time.Since(trainStart)
	r.timings["compile"] = compileTime.Seconds()
	r.timings["train"] = trainTime.Seconds()
	if err := saveCheckpoint(); err != nil {
		return false, err
	}
	// The final loss is the mean of the losses logged in the last tenth of training, read
	// back from the store so that a resumed run reports what an uninterrupted one would.
	hist, err := r.opt.Store.History(r.id, "loss")
	if err != nil {
		return false, err
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
		if timed := leg - len(compiled); timed > 0 {
			r.summaries["steps_per_sec"] = float64(timed) / (trainTime - compileTime).Seconds()
		}
	}
	return false, nil
}

// newTrainer builds the GoMLX trainer of a job on ctx, seeding ctx's random state (used to
// initialise the weights) from the trial's seed.
func (j *Job) newTrainer(backend backends.Backend, ctx *gctx.Context) (*train.Trainer, error) {
	tr := j.Trial.Train()
	if err := ctx.SetRNGStateFromSeed(int64(j.Trial.Seed)); err != nil {
		return nil, err
	}
	adam := optimizers.Adam().LearningRate(tr.Float("lr")).WeightDecay(tr.Float("weight_decay")).Done()
	opt := &optimizer{adam: adam.(gradientOptimizer), lr: tr.Float("lr"), warmup: tr.Int("warmup"),
		clip: tr.Float("grad_clip"), emaDecay: tr.Float("ema")}
	var extra []gmetrics.Interface
	for i, name := range trainOutputs {
		extra = append(extra, passthrough{name: name, index: i})
	}
	return train.NewTrainer(backend, ctx, j.trainModelFn, nil, opt, extra, nil), nil
}

// batchBuffers are the host buffers of one training batch, reused across steps.
type batchBuffers struct {
	batch, dim int
	x0, noise  []float32
	ts, rows   []int32
	ws         []float32
}

func newBatchBuffers(batch, dim int) *batchBuffers {
	return &batchBuffers{batch: batch, dim: dim, x0: make([]float32, batch*dim), noise: make([]float32, batch*dim),
		ts: make([]int32, batch), rows: make([]int32, batch), ws: make([]float32, batch)}
}

// batchInputs draws the inputs of a training step (x_0, t, eps, importance weights) from the
// step's own random stream, and lists the rows with t = 0 for the decoder term.
func (j *Job) batchInputs(step int, bb *batchBuffers) []*tensors.Tensor {
	j.Data.Train(uint64(j.Trial.Seed), step, bb.batch, bb.x0)
	rng := batchRNG(j.Trial.Seed, step)
	j.Timesteps.Sample(rng, bb.ts, bb.ws)
	for i := range bb.noise {
		bb.noise[i] = float32(rng.NormFloat64())
	}
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(bb.x0, bb.batch, bb.dim),
		tensors.FromFlatDataAndDimensions(bb.ts, bb.batch),
		tensors.FromFlatDataAndDimensions(bb.noise, bb.batch, bb.dim),
		tensors.FromFlatDataAndDimensions(bb.ws, bb.batch),
		tensors.FromValue(diffusion.DecoderRows(bb.ts, bb.rows)),
	}
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

// writeAtomic writes b to path atomically: a reader sees the old file or the whole new one.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// materialize creates in ctx every variable that the checkpoint handler still holds, in name
// order (GoMLX's own immediate loading goes in map order, which would change the order of
// variables, and so of the sums over them, from one process to the next).
func materialize(ctx *gctx.Context, h *checkpoints.Handler) {
	loaded := h.LoadedVariables()
	names := make([]string, 0, len(loaded))
	for name := range loaded {
		names = append(names, name)
	}
	sort.Strings(names)
	values := make([]*tensors.Tensor, len(names))
	for i, name := range names {
		values[i] = loaded[name]
	}
	for i, name := range names {
		scope, varName := gctx.VariableScopeAndNameFromParameterName(name)
		if ctx.InspectVariable(scope, varName) != nil {
			continue
		}
		ctx.Checked(false).InAbsPath(scope).VariableWithValue(varName, values[i])
	}
}
