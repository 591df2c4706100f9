package diffusion

import (
	"context"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
)

// BoundTerm is the graph of one step of the bound: L_t per example (nats/dim) for the
// examples x0 at steps t, with x_t drawn from q(x_t | x_0) with the given noise and the
// network (model) run on it. It is VLBTerm, the function the losses train on, with x_0-hat
// clipped when clip is set (as the sampler clips it).
func (d *Diffusion) BoundTerm(x0, t, noise *Node, model func(xt, t *Node) *Node, clip bool) *Node {
	return d.VLBTerm(d.NewBatch(x0, t, noise, model), clip, false)
}

// BoundBatch caps how many examples one evaluation of a bound term handles at once.
const BoundBatch = 1000

// BoundResult is the variational bound on some examples, averaged over them, in nats per
// dimension: L_vlb = Prior + Terms + Decoder.
type BoundResult struct {
	// Prior is L_T (PriorKL), Terms the sum over t >= 1 of L_t, Decoder L_0.
	Prior, Terms, Decoder float64
	// PerT is L_t for each t (PerT[0] = L_0, the decoder term), in nats per dimension
	// averaged over the examples.
	PerT []float64
	// PerExample is each example's bound, in nats per dimension: its terms summed over t,
	// plus the prior term averaged over the examples (the prior has no parameters).
	PerExample []float64
}

// BoundTermFunc evaluates BoundTerm on the examples x0 (a batch of Bound's examples, the
// first being example start) at step t for every example, with the given noise (standard
// normal, shaped like x0), and returns one value of L_t per example. Bound calls it for
// every t of a batch before the next batch.
type BoundTermFunc func(start int, x0 []float32, t int, noise []float32) ([]float32, error)

// Bound is the full variational bound on the examples x (dim values each), improved-
// diffusion's calc_bpd_loop: every step t of the chain is evaluated (no sampling of t), in
// batches of at most BoundBatch examples, with the noise of (seed, t, batch) fixed, and the
// terms are summed in that order (examples in batches, t within each). A cancelled ctx
// stops it between two steps with ctx's error.
func (d *Diffusion) Bound(ctx context.Context, x []float32, dim int, seed uint64, term BoundTermFunc) (BoundResult, error) {
	var b BoundResult
	n := len(x) / dim
	b.Prior = d.PriorKL(x)
	sums := make([]float64, d.T)
	perExample := make([]float64, n)
	for start := 0; start < n; start += BoundBatch {
		end := min(n, start+BoundBatch)
		xb := x[start*dim : end*dim]
		noise := make([]float32, len(xb))
		for t := range d.T {
			if err := ctx.Err(); err != nil {
				return BoundResult{}, err
			}
			rng := rand.New(rand.NewPCG(seed^0xb0b0, uint64(t)<<32|uint64(start)))
			for k := range noise {
				noise[k] = float32(rng.NormFloat64())
			}
			out, err := term(start, xb, t, noise)
			if err != nil {
				return BoundResult{}, err
			}
			var sum float64
			for k, v := range out {
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
