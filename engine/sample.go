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

// Sample draws n samples by running the sampler's chain from x_T ~ N(0, I), or from the x_T
// of [sample] noise (j.Noise), with the weights in evalCtx, and returns them with the number of network evaluations one sample took (NFE).
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
	if j.Noise != nil { // [sample] noise: only x_T is given, the steps' noise is still drawn
		if len(j.Noise.X) != len(x) {
			return nil, 0, fmt.Errorf("[sample] noise %s holds %d samples' x_T, %d asked for", j.Noise.Path, len(j.Noise.X)/dim, n)
		}
		copy(x, j.Noise.X)
	} else {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
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
		out, err := exec.Exec(xb, ts, tensors.FromFlatDataAndDimensions(noise, m, dim))
		if err != nil {
			return nil, err
		}
		return tensors.MustCopyFlatData[float32](out[0]), nil
	})
}
