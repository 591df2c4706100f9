package engine

import (
	"context"
	"fmt"
	"math/rand/v2"

	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
)

// referenceStream seeds the training examples that metrics compare held-out data with.
const referenceStream = 0x7265666572656e63

// sampleSeedOffset separates the sampling streams from the training ones (which use step
// numbers as their second seed word).
const sampleSeedOffset = 1 << 62

// sampleBatchStream separates the streams of a chain drawn in batches ([sample] batch) from
// those of a chain drawn all at once, which keep the streams they always had.
const sampleBatchStream = 0x6261746368657321

// Sample draws n samples by running the sampler's chain from x_T ~ N(0, I), or from the x_T
// of [sample] noise (j.Noise), with the weights in evalCtx, and returns them with the number
// of network evaluations one sample took (NFE). With [sample] batch below n the chain runs
// on one batch at a time, each with streams of its own. It is deterministic for a given seed
// and batch. A cancelled ctx stops the chain between two steps with ctx's error.
func Sample(ctx context.Context, backend backends.Backend, evalCtx *gctx.Context, j *Job, n int) ([]float32, int, error) {
	dim := j.Data.Dim()
	if j.Noise != nil && len(j.Noise.X) != n*dim {
		return nil, 0, fmt.Errorf("[sample] noise %s holds %d samples' x_T, %d asked for", j.Noise.Path, len(j.Noise.X)/dim, n)
	}
	c := &chain{backend: backend, evalCtx: evalCtx, j: j, graphs: map[stepKind]stepGraph{}}
	defer c.finalize()
	labels := j.sampleLabels(n)
	seed := uint64(j.Trial.Seed)
	size := j.Trial.Settings.Sample.Batch
	if size == 0 || size >= n {
		return c.run(ctx, 0, n, labels, func(i int) *rand.Rand { return rand.New(rand.NewPCG(seed, sampleSeedOffset+uint64(i+1))) })
	}
	out := make([]float32, 0, n*dim)
	nfe := 0
	for b, start := 0, 0; start < n; b, start = b+1, start+size {
		end := min(start+size, n)
		batch := uint64(b) << 32 // a chain has fewer than 2^32 steps
		x, k, err := c.run(ctx, start, end, labels[start:end], func(i int) *rand.Rand {
			return rand.New(rand.NewPCG(seed^sampleBatchStream, batch+uint64(i+1)))
		})
		if err != nil {
			return nil, 0, err
		}
		out, nfe = append(out, x...), k
	}
	return out, nfe, nil
}

// stepKind is the kind of a chain's step: the first and the last may be built differently
// (see plugins.SamplerStep), and a batch of another size is another graph.
type stepKind struct {
	first, last bool
	n           int
}

// stepGraph is the compiled graph of a kind of step, with the network evaluations it was
// built with.
type stepGraph struct {
	exec  *gctx.Exec
	evals *int
}

// chain runs the sampler's chain on a batch of samples, with one graph per kind of step.
type chain struct {
	backend backends.Backend
	evalCtx *gctx.Context
	j       *Job
	graphs  map[stepKind]stepGraph
}

func (c *chain) finalize() {
	for _, sg := range c.graphs {
		sg.exec.Finalize()
	}
}

// run draws samples start..end-1 of the chain. stream(i) is the random stream of plan step
// i, and stream(-1) the one x_T is drawn from (unless [sample] noise gives it).
func (c *chain) run(ctx context.Context, start, end int, labels []int32, stream func(i int) *rand.Rand) ([]float32, int, error) {
	j := c.j
	dim, n := j.Data.Dim(), end-start
	x := make([]float32, n*dim)
	if j.Noise != nil { // [sample] noise: only x_T is given, the steps' noise is still drawn
		copy(x, j.Noise.X[start*dim:end*dim])
	} else {
		rng := stream(-1)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
	}
	state := make([]float32, n*dim)
	noise := make([]float32, n*dim)
	tIdx := make([]int32, n)
	nfe := 0
	last := len(j.SampleTimesteps) - 1
	for i := last; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		kind := stepKind{first: i == last, last: i == 0, n: n}
		sg, ok := c.graphs[kind]
		if !ok {
			sg.evals = new(int)
			exec, err := gctx.NewExec(c.backend, c.evalCtx, j.sampleStepFn(kind.first, kind.last, sg.evals))
			if err != nil {
				return nil, 0, err
			}
			sg.exec = exec
			c.graphs[kind] = sg
		}
		rng := stream(i)
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
		nfe += *sg.evals // the graph was built, and its evaluations counted, by its first Exec
	}
	return x, nfe, nil
}

// BoundResult is the bound of BoundTerms with its terms one by one.
type BoundResult = diffusion.BoundResult

// BoundTerms computes the variational bound on examples x with the weights in evalCtx,
// averaged over examples, in nats per dimension, with every L_t kept: the loop is
// diffusion's Bound, each of its steps one run of the graph boundTermFn. A cancelled ctx
// stops it between two timesteps with ctx's error.
func BoundTerms(ctx context.Context, backend backends.Backend, evalCtx *gctx.Context, j *Job, x []float32) (b BoundResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bound: %v", p)
		}
	}()
	exec, err := gctx.NewExec(backend, evalCtx, j.boundTermFn)
	if err != nil {
		return b, err
	}
	defer exec.Finalize()
	dim := j.Data.Dim()
	var xb *tensors.Tensor // the batch's examples, one tensor for all its steps
	batch := -1
	return j.Diffusion.Bound(ctx, x, dim, uint64(j.Trial.Seed), func(start int, x0 []float32, t int, noise []float32) ([]float32, error) {
		m := len(x0) / dim
		if start != batch {
			xb, batch = tensors.FromFlatDataAndDimensions(x0, m, dim), start
		}
		ts := make([]int32, m)
		for k := range ts {
			ts[k] = int32(t)
		}
		size := j.Trial.Settings.Eval.Batch
		if size == 0 || size >= m {
			out, err := exec.Exec(xb, ts, tensors.FromFlatDataAndDimensions(noise, m, dim))
			if err != nil {
				return nil, err
			}
			return tensors.MustCopyFlatData[float32](out[0]), nil
		}
		// [eval] batch: the same examples and noise, through the network a part at a time.
		terms := make([]float32, 0, m)
		for s := 0; s < m; s += size {
			e := min(m, s+size)
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x0[s*dim:e*dim], e-s, dim), ts[s:e],
				tensors.FromFlatDataAndDimensions(noise[s*dim:e*dim], e-s, dim))
			if err != nil {
				return nil, err
			}
			terms = append(terms, tensors.MustCopyFlatData[float32](out[0])...)
		}
		return terms, nil
	})
}
