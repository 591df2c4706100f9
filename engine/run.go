package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
	"github.com/ddpm-runner/ddpm-runner/internal/fastdot"
	"github.com/ddpm-runner/ddpm-runner/metrics"
	"github.com/ddpm-runner/ddpm-runner/networks"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// Options configures Run.
type Options struct {
	Store *results.Store
	// Progress receives the progress bar or lines; nil or io.Discard for none.
	Progress io.Writer
	// ArtifactRoot is the folder of per-run artifacts, runs/ beside the database by default.
	ArtifactRoot string
	// MetricBatch is how many metric rows go in one transaction; default 256.
	MetricBatch int
}

// Outcome is how a run ended.
type Outcome struct {
	RunID     int64
	Status    string
	Err       error
	Summaries map[string]float64
}

// Run trains, samples and evaluates one prepared trial and records it all. It never panics:
// a GoMLX panic becomes a failed run with the message.
func Run(ctx context.Context, job *Job, opt Options) Outcome {
	if opt.ArtifactRoot == "" {
		opt.ArtifactRoot = filepath.Join(filepath.Dir(opt.Store.Path), "runs")
	}
	if opt.MetricBatch <= 0 {
		opt.MetricBatch = 256
	}
	t := job.Trial
	env := results.Provenance()
	env["backend"] = t.Backend
	id, err := opt.Store.CreateRun(results.NewRun{
		Spec: t.Spec, SpecFile: t.File, Hash: t.Hash(), GroupHash: t.GroupHash(), Resolved: t.Canonical(),
		Seed: t.Seed, Backend: t.Backend, Params: t.Params(), Env: env,
	})
	if err != nil {
		return Outcome{Status: results.StatusFailed, Err: err}
	}
	r := &runner{job: job, opt: opt, id: id, dir: filepath.Join(opt.ArtifactRoot, strconv.FormatInt(id, 10)),
		timings: map[string]float64{}, summaries: map[string]float64{}}
	return r.finish(r.execute(ctx))
}

// Resume continues a recorded run (interrupted, or crashed while running) from its last
// checkpoint, in place: same run id, the loss history after the checkpoint's step replaced.
// With the data and noise of a step a pure function of (seed, step) and the checkpoint
// holding weights, Adam moments, EMA, global step and RNG state, the finished history equals
// that of a run never interrupted, bit for bit.
func Resume(ctx context.Context, job *Job, opt Options, id int64) Outcome {
	if opt.ArtifactRoot == "" {
		opt.ArtifactRoot = filepath.Join(filepath.Dir(opt.Store.Path), "runs")
	}
	if opt.MetricBatch <= 0 {
		opt.MetricBatch = 256
	}
	r := &runner{job: job, opt: opt, id: id, dir: filepath.Join(opt.ArtifactRoot, strconv.FormatInt(id, 10)),
		timings: map[string]float64{}, summaries: map[string]float64{}, resume: true}
	if err := opt.Store.MarkResumed(id); err != nil {
		return Outcome{RunID: id, Status: results.StatusFailed, Err: err}
	}
	return r.finish(r.execute(ctx))
}

// finish records how the run ended.
func (r *runner) finish(status string, runErr error) Outcome {
	id, opt := r.id, r.opt
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	if err := opt.Store.SetTimings(id, r.timings); err != nil && runErr == nil {
		status, runErr, msg = results.StatusFailed, err, err.Error()
	}
	if err := opt.Store.SetSummaries(id, r.summaries); err != nil && runErr == nil {
		status, runErr, msg = results.StatusFailed, err, err.Error()
	}
	if err := opt.Store.EndRun(id, status, msg); err != nil && runErr == nil {
		runErr = err
	}
	return Outcome{RunID: id, Status: status, Err: runErr, Summaries: r.summaries}
}

// runner holds the state of one run while it executes.
type runner struct {
	job       *Job
	opt       Options
	id        int64
	dir       string
	timings   map[string]float64
	summaries map[string]float64
	backend   backends.Backend
	ctx       *gctx.Context
	resume    bool // continue from the run's checkpoint instead of starting afresh
}

// errDiverged marks a run stopped by the NaN/Inf guard.
var errDiverged = errors.New("diverged")

func (r *runner) execute(ctx context.Context) (status string, err error) {
	defer func() {
		if p := recover(); p != nil {
			status, err = results.StatusFailed, fmt.Errorf("panic: %v", p)
		}
	}()
	start := time.Now()
	if r.backend, err = NewBackend(r.job.Trial.Backend); err != nil {
		return results.StatusFailed, err
	}
	defer r.backend.Finalize()
	r.timings["backend"] = time.Since(start).Seconds()
	if r.backend.String() == "go" {
		// Which matmul kernel ran is part of what it takes to reproduce the numbers.
		if err := r.opt.Store.AddEnv(r.id, map[string]string{MatmulEnvKey: fastdot.Kernel()}); err != nil {
			return results.StatusFailed, err
		}
	}
	r.timings["data"] = r.job.DataSeconds

	if !r.resume {
		if err := freshDir(r.dir); err != nil {
			return results.StatusFailed, err
		}
	}
	interrupted, err := r.train(ctx)
	if errors.Is(err, errDiverged) {
		return results.StatusDiverged, err
	}
	if err != nil {
		return results.StatusFailed, err
	}
	if interrupted {
		return results.StatusInterrupted, fmt.Errorf("interrupted by signal; checkpoint in %s", r.dir)
	}
	if err := r.sampleAndEvaluate(); err != nil {
		return results.StatusFailed, err
	}
	r.timings["total"] = time.Since(start).Seconds()
	return results.StatusFinished, nil
}

// freshDir creates a run's artifact folder. A folder already there belongs to a run of
// another (deleted or replaced) database that had the same id: it is moved aside, never
// reused, since its checkpoint would otherwise be loaded into this run.
func freshDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		stale := fmt.Sprintf("%s.stale-%s", dir, time.Now().UTC().Format("20060102T150405.000000000"))
		if err := os.Rename(dir, stale); err != nil {
			return fmt.Errorf("moving aside stale artifacts %s: %w", dir, err)
		}
	}
	return os.MkdirAll(dir, 0o755)
}

// newContext is a GoMLX context configured for the backend: the pure-Go backend cannot
// differentiate native convolutions, so networks use the im2col ones there.
func newContext(backend string) *gctx.Context {
	ctx := gctx.New()
	impl := "native"
	if strings.HasPrefix(backend, "go") {
		impl = "im2col"
	}
	ctx.SetParam(networks.ParamConv, impl)
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
	if r.resume {
		if has, _ := os.ReadDir(ckptDir); len(has) == 0 {
			return false, fmt.Errorf("run %d has no checkpoint in %s to resume from", r.id, ckptDir)
		}
	}
	if r.resume {
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
		if err := json.Unmarshal(b, j.Timesteps); err != nil {
			return false, fmt.Errorf("timestep sampler state: %w", err)
		}
		if err := r.opt.Store.TruncateMetrics(r.id, done); err != nil {
			return false, err
		}
		first = done + 1
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
	lastBeat := time.Now()
	saveCheckpoint := func() error {
		if err := mw.Flush(); err != nil {
			return err
		}
		// The timestep sampler's state is saved per checkpoint step, so a resume that falls
		// back to an older checkpoint also gets the matching state. It is written (atomically)
		// before the checkpoint, so a process killed in between leaves no checkpoint without
		// its sampler state.
		step := int(optimizers.GetGlobalStep(r.ctx))
		if err := saveJSON(timestepsFile(ckptDir, step), j.Timesteps); err != nil {
			return err
		}
		if err := ckpt.Save(); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		return pruneTimesteps(ckptDir, 3)
	}

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
		if time.Since(lastBeat) > 10*time.Second {
			if err := r.opt.Store.Heartbeat(r.id); err != nil {
				return false, err
			}
			lastBeat = time.Now()
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

// saveJSON writes v to path atomically: a reader sees the old file or the whole new one.
func saveJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sampleAndEvaluate draws samples with the EMA weights, writes them, and runs the metrics.
func (r *runner) sampleAndEvaluate() error {
	j := r.job
	evalCtx, err := evalContext(r.ctx, newContext(j.Trial.Backend), j.Trial.Train().Float("ema") > 0)
	if err != nil {
		return err
	}
	if err := r.opt.Store.Heartbeat(r.id); err != nil {
		return err
	}
	start := time.Now()
	n := j.Trial.Section("sample").Params.Int("n")
	samples, err := Sample(r.backend, evalCtx, j, n)
	if err != nil {
		return fmt.Errorf("sampling: %w", err)
	}
	el := time.Since(start).Seconds()
	r.timings["sample"] = el
	r.summaries["samples_per_sec"] = float64(n) / el
	r.summaries["seconds_per_sample"] = el / float64(n)
	// A chain can blow up (for example an untrained model on a schedule whose alpha_bar_T is
	// tiny): say so as a number rather than only through NaN metrics.
	nonFinite := 0
	for _, v := range samples {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			nonFinite++
		}
	}
	r.summaries["samples_nonfinite_frac"] = float64(nonFinite) / float64(len(samples))
	if j.Data.Dim() <= 16 {
		path := filepath.Join(r.dir, "samples.csv")
		if err := writeCSV(path, samples, j.Data.Dim()); err != nil {
			return err
		}
		if err := r.opt.Store.AddArtifact(r.id, "samples.csv", path); err != nil {
			return err
		}
	}
	m := j.Trial.Section("eval").Params.Int("n")
	held := j.Data.HeldOut(m)
	if img, ok := j.Data.(plugins.ImageData); ok {
		path := filepath.Join(r.dir, "samples_grid.png")
		h, w, c := img.ImageShape()
		if err := metrics.GridPNG(path, samples, h, w, c, 10); err != nil {
			return fmt.Errorf("sample grid: %w", err)
		}
		if err := r.opt.Store.AddArtifact(r.id, "samples_grid.png", path); err != nil {
			return err
		}
	}
	if j.Data.Dim() == 2 {
		path := filepath.Join(r.dir, "samples.png")
		title := fmt.Sprintf("run %d: %s seed %d", r.id, j.Trial.Spec, j.Trial.Seed)
		if err := metrics.ScatterPNG(path, title, samples, held, 2); err != nil {
			return fmt.Errorf("scatter plot: %w", err)
		}
		if err := r.opt.Store.AddArtifact(r.id, "samples.png", path); err != nil {
			return err
		}
	}
	// Training examples for the metrics' data floor: the first batch of a stream no step uses.
	trainRef := make([]float32, m*j.Data.Dim())
	j.Data.Train(uint64(j.Trial.Seed)^referenceStream, 0, m, trainRef)
	in := plugins.EvalInput{Dim: j.Data.Dim(), Discrete: j.Data.Discrete(), Samples: samples, HeldOut: held,
		Train: trainRef, ArtifactDir: r.dir,
		Bound: func(x []float32) (float64, float64, float64, error) { return Bound(r.backend, evalCtx, j, x) }}
	if img, ok := j.Data.(plugins.ImageData); ok {
		in.H, in.W, in.C = img.ImageShape()
	}
	for _, nm := range j.Metrics {
		if err := r.opt.Store.Heartbeat(r.id); err != nil {
			return err
		}
		ms := time.Now()
		res, err := nm.Metric.Evaluate(in)
		if err != nil {
			return fmt.Errorf("metric %s: %w", nm.Name, err)
		}
		r.timings["metric."+nm.Name] = time.Since(ms).Seconds()
		for k, v := range res.Values {
			r.summaries[k] = v
		}
		names := make([]string, 0, len(res.Artifacts))
		for k := range res.Artifacts {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if err := r.opt.Store.AddArtifact(r.id, k, res.Artifacts[k]); err != nil {
				return err
			}
		}
		notes := map[string]string{}
		for k, v := range res.Notes {
			notes["metric."+nm.Name+"."+k] = v
		}
		if err := r.opt.Store.AddEnv(r.id, notes); err != nil {
			return err
		}
	}
	return nil
}

func writeCSV(path string, x []float32, dim int) error {
	var b strings.Builder
	for d := range dim {
		if d > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "x%d", d)
	}
	b.WriteByte('\n')
	for i := 0; i < len(x); i += dim {
		for d := range dim {
			if d > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(float64(x[i+d]), 'g', -1, 32))
		}
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// referenceStream seeds the training examples that metrics compare held-out data with.
const referenceStream = 0x7265666572656e63

// sampleSeedOffset separates the sampling streams from the training ones (which use step
// numbers as their second seed word).
const sampleSeedOffset = 1 << 62

// Sample draws n samples by running the sampler's chain from x_T ~ N(0, I) with the weights
// in evalCtx. It is deterministic for a given seed.
func Sample(backend backends.Backend, evalCtx *gctx.Context, j *Job, n int) ([]float32, error) {
	dim := j.Data.Dim()
	exec, err := gctx.NewExec(backend, evalCtx, j.sampleStepFn)
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	seed := uint64(j.Trial.Seed)
	rng := rand.New(rand.NewPCG(seed, sampleSeedOffset))
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	noise := make([]float32, n*dim)
	tIdx := make([]int32, n)
	netT := make([]int32, n)
	for i := len(j.SampleTimesteps) - 1; i >= 0; i-- {
		rng := rand.New(rand.NewPCG(seed, sampleSeedOffset+uint64(i)+1))
		for k := range noise {
			noise[k] = float32(rng.NormFloat64())
		}
		for k := range tIdx {
			tIdx[k], netT[k] = int32(i), int32(j.SampleTimesteps[i])
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, dim), tIdx, netT,
			tensors.FromFlatDataAndDimensions(noise, n, dim))
		if err != nil {
			return nil, err
		}
		x = tensors.MustCopyFlatData[float32](out[0])
	}
	return x, nil
}

// boundBatch caps how many examples one bound evaluation handles at once.
const boundBatch = 1000

// Bound computes the variational bound on examples x with the weights in evalCtx, averaged
// over examples, in nats per dimension: the prior term L_T, the sum over t >= 1 of L_t, and
// the decoder term L_0. Every timestep is evaluated (no sampling of t).
func Bound(backend backends.Backend, evalCtx *gctx.Context, j *Job, x []float32) (prior, terms, decoder float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bound: %v", p)
		}
	}()
	dim := j.Data.Dim()
	n := len(x) / dim
	exec, err := gctx.NewExec(backend, evalCtx, j.boundTermFn)
	if err != nil {
		return 0, 0, 0, err
	}
	defer exec.Finalize()
	prior = j.priorKL(x)
	for start := 0; start < n; start += boundBatch {
		end := min(n, start+boundBatch)
		m := end - start
		xb := tensors.FromFlatDataAndDimensions(x[start*dim:end*dim], m, dim)
		ts := make([]int32, m)
		noise := make([]float32, m*dim)
		for t := range j.Process.T {
			rng := rand.New(rand.NewPCG(uint64(j.Trial.Seed)^0xb0b0, uint64(t)<<32|uint64(start)))
			for k := range noise {
				noise[k] = float32(rng.NormFloat64())
			}
			for k := range ts {
				ts[k] = int32(t)
			}
			out, err := exec.Exec(xb, ts, tensors.FromFlatDataAndDimensions(noise, m, dim))
			if err != nil {
				return 0, 0, 0, err
			}
			var sum float64
			for _, v := range tensors.MustCopyFlatData[float32](out[0]) {
				sum += float64(v)
			}
			if t == 0 {
				decoder += sum
			} else {
				terms += sum
			}
		}
	}
	return prior, terms / float64(n), decoder / float64(n), nil
}

// BareLoop times steps training steps of a job through its GoMLX trainer alone, with the same
// batches as Run, after one untimed step that compiles the graph: the baseline against which
// the runner's own overhead is measured.
func BareLoop(backend backends.Backend, ctx *gctx.Context, j *Job, steps int) (time.Duration, error) {
	trainer, err := j.newTrainer(backend, ctx)
	if err != nil {
		return 0, err
	}
	bb := newBatchBuffers(j.Trial.Train().Int("batch"), j.Data.Dim())
	if _, err := trainer.TrainStep(nil, j.batchInputs(1, bb), nil); err != nil {
		return 0, err
	}
	start := time.Now()
	for step := 2; step <= steps+1; step++ {
		if _, err := trainer.TrainStep(nil, j.batchInputs(step, bb), nil); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
