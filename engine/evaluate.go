package engine

import (
	"context"
	"fmt"
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

	"github.com/ddpm-runner/ddpm-runner/figures"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// sampleAndEvaluate draws samples with the EMA weights, writes them, and runs the metrics.
// A signal stops it within one chain step or one bound timestep: the error then wraps
// ctx's.
func (r *runner) sampleAndEvaluate(ctx context.Context) error {
	j := r.job
	evalCtx, err := evalContext(r.ctx, newContext(j.Trial.Backend), j.Trial.Train().Float("ema") > 0)
	if err != nil {
		return err
	}
	r.opt.Phase("sample")
	start := time.Now()
	n := j.Trial.Section("sample").Params.Int("n")
	samples, err := Sample(ctx, r.backend, evalCtx, j, n)
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
		if err := figures.GridPNG(path, samples, h, w, c, 10); err != nil {
			return fmt.Errorf("sample grid: %w", err)
		}
		if err := r.opt.Store.AddArtifact(r.id, "samples_grid.png", path); err != nil {
			return err
		}
	}
	if j.Data.Dim() == 2 {
		path := filepath.Join(r.dir, "samples.png")
		title := fmt.Sprintf("run %d: %s seed %d", r.id, j.Trial.Spec, j.Trial.Seed)
		if err := figures.ScatterPNG(path, title, samples, held, 2); err != nil {
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
		Context: ctx,
		Bound:   func(x []float32) (float64, float64, float64, error) { return Bound(ctx, r.backend, evalCtx, j, x) }}
	if img, ok := j.Data.(plugins.ImageData); ok {
		in.H, in.W, in.C = img.ImageShape()
	}
	for _, nm := range j.Metrics {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.opt.Phase("metric." + nm.Name)
		ms := time.Now()
		res, err := nm.Metric.Evaluate(in)
		if err != nil {
			return fmt.Errorf("metric %s: %w", nm.Name, err)
		}
		if err := ctx.Err(); err != nil {
			// A metric that does not watch the context still ran to its end; its values
			// are dropped with the rest, as the run is to be evaluated again on resume.
			return err
		}
		r.timings["metric."+nm.Name] = time.Since(ms).Seconds()
		for k, v := range res.Values {
			if !nm.Plugin.Declares(k) {
				// The report ranks and labels values from their declarations.
				return fmt.Errorf("metric %s reported %q, which it does not declare in its Reports", nm.Name, k)
			}
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
// A cancelled ctx stops the chain between two steps with ctx's error.
func Sample(ctx context.Context, backend backends.Backend, evalCtx *gctx.Context, j *Job, n int) ([]float32, error) {
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
		if err := ctx.Err(); err != nil {
			return nil, err
		}
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
// A cancelled ctx stops it between two timesteps with ctx's error.
func Bound(ctx context.Context, backend backends.Backend, evalCtx *gctx.Context, j *Job, x []float32) (prior, terms, decoder float64, err error) {
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
			if err := ctx.Err(); err != nil {
				return 0, 0, 0, err
			}
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
