package engine

import (
	"context"
	"fmt"
	"math/rand/v2"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// referenceStream seeds the training examples that metrics compare held-out data with.
const referenceStream = 0x7265666572656e63

// sampleSeedOffset separates the sampling streams from the training ones (which use step
// numbers as their second seed word).
const sampleSeedOffset = 1 << 62

// Sample draws n samples by running the sampler's chain from x_T ~ N(0, I) with the weights
// in evalCtx, and returns them with the number of network evaluations one sample took (NFE).
// It is deterministic for a given seed. A cancelled ctx stops the chain between two steps
// with ctx's error.
func Sample(ctx context.Context, backend backends.Backend, evalCtx *gctx.Context, j *Job, n int) ([]float32, int, error) {
	dim := j.Data.Dim()
	// The first and the last step may be built differently (see plugins.SamplerStep): one
	// graph per kind of step, each counting the network evaluations it was built with.
	type stepKind struct{ first, last bool }
	type stepGraph struct {
		exec  *gctx.Exec
		evals *int
	}
	graphs := map[stepKind]stepGraph{}
	defer func() {
		for _, sg := range graphs {
			sg.exec.Finalize()
		}
	}()
	seed := uint64(j.Trial.Seed)
	rng := rand.New(rand.NewPCG(seed, sampleSeedOffset))
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	state := make([]float32, n*dim)
	noise := make([]float32, n*dim)
	labels := j.sampleLabels(n)
	tIdx := make([]int32, n)
	nfe := 0
	last := len(j.SampleTimesteps) - 1
	for i := last; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		kind := stepKind{first: i == last, last: i == 0}
		sg, ok := graphs[kind]
		if !ok {
			sg.evals = new(int)
			exec, err := gctx.NewExec(backend, evalCtx, j.sampleStepFn(kind.first, kind.last, sg.evals))
			if err != nil {
				return nil, 0, err
			}
			sg.exec = exec
			graphs[kind] = sg
		}
		rng := rand.New(rand.NewPCG(seed, sampleSeedOffset+uint64(i)+1))
		for k := range noise {
			noise[k] = float32(rng.NormFloat64())
		}
		for k := range tIdx {
			tIdx[k] = int32(i)
		}
		out, err := sg.exec.Exec(tensors.FromFlatDataAndDimensions(x, n, dim), tensors.FromFlatDataAndDimensions(state, n, dim),
			tIdx, tensors.FromFlatDataAndDimensions(noise, n, dim), labels)
		if err != nil {
			return nil, 0, err
		}
		x = tensors.MustCopyFlatData[float32](out[0])
		state = tensors.MustCopyFlatData[float32](out[1])
		nfe += *sg.evals // the graph was built, and its evaluations counted, by the first Exec
	}
	return x, nfe, nil
}

// boundBatch caps how many examples one bound evaluation handles at once.
const boundBatch = 1000

// BoundResult is the variational bound on examples, averaged over them, in nats per
// dimension: the prior term L_T, the sum over t >= 1 of L_t and the decoder term L_0, with
// its terms one by one.
type BoundResult struct {
	Prior, Terms, Decoder float64
	// PerT is L_t for each t (PerT[0] = L_0, the decoder term), in nats per dimension
	// averaged over the examples.
	PerT []float64
	// PerExample is each example's bound, in nats per dimension: its terms summed over t,
	// plus the prior term averaged over the examples (the prior has no parameters).
	PerExample []float64
}

// BoundTerms computes the variational bound on examples x with the weights in evalCtx. Every
// timestep is evaluated (no sampling of t). Terms and Decoder are summed in the order they
// always were (examples in batches, t within each), so they keep their bits. A cancelled ctx
// stops it between two timesteps with ctx's error.
func BoundTerms(ctx context.Context, backend backends.Backend, evalCtx *gctx.Context, j *Job, x []float32) (b BoundResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bound: %v", p)
		}
	}()
	dim := j.Data.Dim()
	n := len(x) / dim
	exec, err := gctx.NewExec(backend, evalCtx, j.boundTermFn)
	if err != nil {
		return b, err
	}
	defer exec.Finalize()
	b.Prior = j.Process.PriorKL(x)
	sums := make([]float64, j.Process.T)
	perExample := make([]float64, n)
	for start := 0; start < n; start += boundBatch {
		end := min(n, start+boundBatch)
		m := end - start
		xb := tensors.FromFlatDataAndDimensions(x[start*dim:end*dim], m, dim)
		ts := make([]int32, m)
		noise := make([]float32, m*dim)
		for t := range j.Process.T {
			if err := ctx.Err(); err != nil {
				return BoundResult{}, err
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
				return BoundResult{}, err
			}
			var sum float64
			for k, v := range tensors.MustCopyFlatData[float32](out[0]) {
				sum += float64(v)
				perExample[start+k] += float64(v)
			}
			sums[t] += sum
			if t == 0 {
				b.Decoder += sum
			} else {
				b.Terms += sum
			}
		}
	}
	b.Terms, b.Decoder = b.Terms/float64(n), b.Decoder/float64(n)
	b.PerT = make([]float64, len(sums))
	for t, s := range sums {
		b.PerT[t] = s / float64(n)
	}
	for i := range perExample {
		perExample[i] += b.Prior
	}
	b.PerExample = perExample
	return b, nil
}
