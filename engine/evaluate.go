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

	"github.com/ddpm-runner/ddpm-runner/figures"
	"github.com/ddpm-runner/ddpm-runner/internal/atomicfile"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	"github.com/ddpm-runner/ddpm-runner/results"
)

// sampleAndEvaluate draws samples with the EMA weights, writes them, and runs the metrics;
// with several EMA rates (train.ema as a list) it does the same for each further EMA, whose
// summaries are KEY@emaRATE. A signal stops it within one chain step or one bound timestep:
// the error then wraps ctx's.
func (r *runner) sampleAndEvaluate(ctx context.Context) error {
	j := r.job
	rates := emaRates(j.Trial)
	scope := ""
	if len(rates) > 0 {
		scope = emaScope
	}
	if err := r.evaluateWeights(ctx, scope, ""); err != nil {
		return err
	}
	for k := 1; k < len(rates); k++ {
		if err := r.evaluateWeights(ctx, emaScopeOf(k), "@ema"+strconv.FormatFloat(rates[k], 'g', -1, 64)); err != nil {
			return fmt.Errorf("EMA %g: %w", rates[k], err)
		}
	}
	return nil
}

// evaluateWeights samples and evaluates with the weights of one scope (see evalContext). The
// first evaluation (suffix "") also writes the sample figures, the sampling speed and the
// bound's records; a further EMA's values are recorded with the suffix on their keys, and
// its metrics' files go to a folder of that name.
func (r *runner) evaluateWeights(ctx context.Context, scope, suffix string) error {
	j := r.job
	evalCtx, err := evalContext(r.ctx, newContext(r.be), scope)
	if err != nil {
		return err
	}
	samples, err := r.drawSamples(ctx, evalCtx, suffix)
	if err != nil {
		return err
	}
	m := j.Trial.Settings.Eval.N
	held := j.Data.HeldOut(m)
	artifactDir := r.dir
	if suffix == "" {
		if err := r.writeSampleFigures(samples, held); err != nil {
			return err
		}
	} else {
		artifactDir = filepath.Join(r.dir, strings.TrimPrefix(suffix, "@"))
		if err := os.MkdirAll(artifactDir, 0o755); err != nil {
			return err
		}
	}
	in := r.evalInput(ctx, j, evalCtx, samples, held, m, artifactDir, suffix == "")
	for _, nm := range j.Metrics {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.opt.Phase("metric." + nm.Name)
		start := time.Now()
		res, err := nm.Metric.Evaluate(in)
		if err != nil {
			return fmt.Errorf("metric %s: %w", nm.Name, err)
		}
		if err := ctx.Err(); err != nil {
			// A metric that does not watch the context still ran to its end; its values
			// are dropped with the rest, as the run is to be evaluated again on resume.
			return err
		}
		r.timings["metric."+nm.Name+suffix] = time.Since(start).Seconds()
		if err := r.recordMetric(nm, res, suffix); err != nil {
			return err
		}
	}
	return nil
}

// evalInput is what the metrics are given: samples drawn by j's sampler with the weights
// in evalCtx, the held-out examples (n asked for) and as many training examples, the bound with those weights (recorded as
// the run's when record is set) and the folder for their files ("" for none).
func (r *runner) evalInput(ctx context.Context, j *Job, evalCtx *gctx.Context, samples, held []float32, n int, artifactDir string, record bool) plugins.EvalInput {
	m := len(held) / j.Data.Dim()
	// Training examples for the metrics' data floor: the first batch of a stream no step uses.
	trainRef := make([]float32, m*j.Data.Dim())
	j.Data.Train(uint64(j.Trial.Seed)^referenceStream, 0, m, trainRef)
	// More of that stream on request, kept for the evaluation's other metrics.
	var more []float32
	trainExamples := func(k int) []float32 {
		if k == m {
			return trainRef
		}
		if len(more) != k*j.Data.Dim() {
			more = make([]float32, k*j.Data.Dim())
			j.Data.Train(uint64(j.Trial.Seed)^referenceStream, 0, k, more)
		}
		return more
	}
	var sampleLabels []int
	if j.ClassCond {
		for _, l := range j.sampleLabels(len(samples) / j.Data.Dim()) {
			sampleLabels = append(sampleLabels, int(l))
		}
	}
	in := plugins.EvalInput{Dim: j.Data.Dim(), Discrete: j.Data.Discrete(), Samples: samples, HeldOut: held, SampleLabels: sampleLabels,
		Train: trainRef, N: n, TrainExamples: trainExamples, ArtifactDir: artifactDir,
		Context: ctx, Backend: r.backend, CacheDir: r.referenceCache(),
		Bound: r.bound(ctx, evalCtx, record)}
	if img, ok := j.Data.(plugins.ImageData); ok {
		in.H, in.W, in.C = img.ImageShape()
	}
	if fd, ok := j.Data.(plugins.FeaturizedData); ok {
		in.Featurizer = fd.Featurizer()
	}
	return in
}

// ReferenceCacheDir is the folder, in a database's artifact folder, where metrics keep what
// they computed from data alone (the Inception statistics of a reference split), shared by
// the database's runs. The metric creates it when it first writes there.
const ReferenceCacheDir = "reference-stats"

// referenceCache is the run's database's ReferenceCacheDir, confined to its artifact folder;
// "" (no cache) when it cannot be.
func (r *runner) referenceCache() string {
	dir, err := results.Confine(filepath.Dir(r.dir), ReferenceCacheDir)
	if err != nil {
		return ""
	}
	return dir
}

// bound is the Bound of a metric's EvalInput: the variational bound with the weights in
// evalCtx. For the run's own weights (record), each computation of the bound also keeps its
// terms by timestep and each example's bound as the run's records (results.BoundArtifact,
// results.BoundExamplesArtifact), whichever metric asked for it.
func (r *runner) bound(ctx context.Context, evalCtx *gctx.Context, record bool) func(x []float32) (prior, terms, decoder float64, err error) {
	return func(x []float32) (float64, float64, float64, error) {
		b, err := BoundTerms(ctx, r.backend, evalCtx, r.job, x)
		if err == nil && record {
			err = r.recordBound(b)
		}
		return b.Prior, b.Terms, b.Decoder, err
	}
}

// recordBound writes the bound's terms by timestep and each example's bound, and lists them
// as the run's artifacts.
func (r *runner) recordBound(b BoundResult) error {
	var e strings.Builder
	e.WriteString("example,nats_per_dim\n")
	for i, v := range b.PerExample {
		fmt.Fprintf(&e, "%d,%.17g\n", i, v)
	}
	var t strings.Builder
	t.WriteString("t,nats_per_dim,bits_per_dim\n")
	for i, v := range b.PerT {
		fmt.Fprintf(&t, "%d,%.17g,%.17g\n", i, v, v/math.Ln2)
	}
	for _, f := range []struct{ name, text string }{
		{results.BoundExamplesArtifact, e.String()}, {results.BoundArtifact, t.String()},
	} {
		path := filepath.Join(r.dir, f.name)
		if err := atomicfile.Write(path, []byte(f.text), 0o644); err != nil {
			return err
		}
		if err := r.opt.Store.AddArtifact(r.id, f.name, path); err != nil {
			return err
		}
	}
	return nil
}

// drawSamples draws the run's samples and records their speed and how many are not finite.
func (r *runner) drawSamples(ctx context.Context, evalCtx *gctx.Context, suffix string) ([]float32, error) {
	j := r.job
	r.opt.Phase("sample")
	start := time.Now()
	n := j.Trial.Settings.Sample.N
	samples, nfe, err := Sample(ctx, r.backend, evalCtx, j, n)
	if err != nil {
		return nil, fmt.Errorf("sampling: %w", err)
	}
	el := time.Since(start).Seconds()
	r.timings["sample"+suffix] = el
	if suffix != "" { // a further EMA: the same sampler, so the same speed and NFE
		return samples, nil
	}
	if j.Noise != nil {
		if err := r.opt.Store.AddEnv(r.id, map[string]string{NoisePathEnvKey: j.Noise.Path, NoiseSHA256EnvKey: j.Noise.SHA256}); err != nil {
			return nil, err
		}
	}
	r.summaries["samples_per_sec"] = float64(n) / el
	r.summaries["seconds_per_sample"] = el / float64(n)
	r.summaries["nfe"] = float64(nfe)
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
		path := filepath.Join(r.dir, results.SamplesCSVArtifact)
		if err := writeCSV(path, samples, j.Data.Dim()); err != nil {
			return nil, err
		}
		if err := r.opt.Store.AddArtifact(r.id, results.SamplesCSVArtifact, path); err != nil {
			return nil, err
		}
	}
	return samples, nil
}

// writeSampleFigures writes the samples of image data as numbers (samples.npz) and draws a
// grid of them, and draws a scatter of samples over held-out data for 2-D data.
func (r *runner) writeSampleFigures(samples, held []float32) error {
	j := r.job
	if img, ok := j.Data.(plugins.ImageData); ok {
		h, w, c := img.ImageShape()
		path := filepath.Join(r.dir, results.SamplesNPZArtifact)
		if err := npy.WriteSamples(path, SamplePixels(samples), len(samples)/(h*w*c), h, w, c); err != nil {
			return fmt.Errorf("samples.npz: %w", err)
		}
		if err := r.opt.Store.AddArtifact(r.id, results.SamplesNPZArtifact, path); err != nil {
			return err
		}
		path = filepath.Join(r.dir, results.SampleGridArtifact)
		grid := samples
		if j.ClassCond { // one row per class
			grid = classRows(samples, j.sampleLabels(len(samples)/j.Data.Dim()), j.Data.Dim(), j.Classes, 10)
		}
		if err := figures.GridPNG(path, grid, h, w, c, 10); err != nil {
			return fmt.Errorf("sample grid: %w", err)
		}
		if err := r.opt.Store.AddArtifact(r.id, results.SampleGridArtifact, path); err != nil {
			return err
		}
	}
	if j.Data.Dim() == 2 {
		path := filepath.Join(r.dir, results.SampleScatterArtifact)
		title := fmt.Sprintf("run %d: %s seed %d", r.id, j.Trial.Spec, j.Trial.Seed)
		if err := figures.ScatterPNG(path, title, samples, held, 2); err != nil {
			return fmt.Errorf("scatter plot: %w", err)
		}
		if err := r.opt.Store.AddArtifact(r.id, results.SampleScatterArtifact, path); err != nil {
			return err
		}
	}
	return nil
}

// SamplePixels converts samples in [-1, 1] to bytes exactly as improved-diffusion's
// image_sample.py does (npy.SamplePixels): the numbers FID tools read. The figures round
// instead.
func SamplePixels(samples []float32) []uint8 { return npy.SamplePixels(samples) }

// recordMetric keeps a metric's values as summaries (each must be one it declares), lists
// its files as artifacts and its notes as provenance.
func (r *runner) recordMetric(nm namedMetric, res plugins.EvalResult, suffix string) error {
	for k, v := range res.Values {
		if !nm.Plugin.Declares(k) {
			// The report ranks and labels values from their declarations.
			return fmt.Errorf("metric %s reported %q, which it does not declare in its Reports", nm.Name, k)
		}
		r.summaries[k+suffix] = v
	}
	for _, k := range slices.Sorted(maps.Keys(res.Artifacts)) {
		if err := r.opt.Store.AddArtifact(r.id, k+suffix, res.Artifacts[k]); err != nil {
			return err
		}
	}
	notes := map[string]string{}
	for k, v := range res.Notes {
		notes["metric."+nm.Name+suffix+"."+k] = v
	}
	return r.opt.Store.AddEnv(r.id, notes)
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
	return atomicfile.Write(path, []byte(b.String()), 0o644)
}
