package diffusion

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
)

// Batch is one batch of the training objective (or of the bound): x_0, the int32 steps t
// [batch], the noise eps, x_t = q_sample(x_0, t, eps), and the network output at (x_t, t).
type Batch struct {
	X0, T, Noise, Xt, Output *Node
	// DecoderRows, if not nil, lists the rows whose t is 0 (see DecoderRows), so that the VLB
	// term computes the costly decoder term for those rows only.
	DecoderRows *Node
}

// NewBatch draws x_t ~ q(x_t | x_0) with the given noise (QSample) and runs the network
// (model) on it at t.
func (d *Diffusion) NewBatch(x0, t, noise *Node, model func(xt, t *Node) *Node) Batch {
	xt := d.QSample(x0, t, noise)
	return Batch{X0: x0, T: t, Noise: noise, Xt: xt, Output: model(xt, t)}
}

// The training losses (improved-diffusion's training_losses), per example. With L_t the
// VLB term at the batch's t (VLBTerm) and target the parameterisation's regression target:
//
//	MSE     = mean ||target - mean part of the output||^2          (L_simple, Ho et al. eq. 14)
//	simple  = w_t MSE, + L_t with the mean frozen if the variance is learned
//	vlb     = T L_t                                                 (an unbiased estimate of L_vlb - L_T)
//	hybrid  = w_t MSE + lambda T L_t, the mean frozen               (Improved DDPM eq. 16, lambda = 0.001)
//
// w_t is a per-step weight of the MSE (nil for none; see Mean.MinSNRWeights), and the L_t the
// losses add is in bits when VLBBits is set.

// MSE is L_simple's term per example: the mean squared error of the mean part of the output
// against the parameterisation's target, which is behind a stop-gradient.
func (d *Diffusion) MSE(b Batch) *Node {
	meanOut, _ := d.Split(b.Output)
	target := d.Mean.Target(d.Process, b.X0, b.Xt, b.T, b.Noise)
	return MeanFlat(Square(Sub(StopGradient(target), meanOut)))
}

// SimpleLoss is L_simple with weights w (nil for none), plus L_t with the mean frozen when
// the variance is learned (Improved DDPM's MSE loss with a learned sigma).
func (d *Diffusion) SimpleLoss(b Batch, w []float64) *Node {
	mse := d.weighted(d.MSE(b), b.T, w)
	if !d.LearnsVariance() {
		return mse
	}
	return Add(mse, d.lossVLB(b, true))
}

// VLBLoss is the true variational bound's estimate T L_t at the sampled t (the decoder's
// NLL at t = 0).
func (d *Diffusion) VLBLoss(b Batch) *Node {
	return MulScalar(d.lossVLB(b, false), float64(d.T))
}

// HybridLoss is L_simple (weights w, nil for none) + lambda T L_t with the mean frozen, so
// that the VLB term trains only the variance (Improved DDPM's L_hybrid).
func (d *Diffusion) HybridLoss(b Batch, lambda float64, w []float64) *Node {
	return Add(d.weighted(d.MSE(b), b.T, w), MulScalar(d.lossVLB(b, true), lambda*float64(d.T)))
}

// lossVLB is VLBTerm (no clipping) in the units the losses add it in: nats, or bits with
// VLBBits.
func (d *Diffusion) lossVLB(b Batch, freezeMean bool) *Node {
	term := d.VLBTerm(b, false, freezeMean)
	if d.VLBBits {
		return MulScalar(term, 1/math.Ln2)
	}
	return term
}

// weighted is mse times w_t, each example's weight at its step; mse itself for w == nil.
func (d *Diffusion) weighted(mse, t *Node, w []float64) *Node {
	if w == nil {
		return mse
	}
	return Mul(mse, Extract(mse.Graph(), w, t, mse.Rank()))
}
