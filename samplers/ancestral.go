package samplers

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// nonZeroMask is 0 where t == 0 (the last step adds no noise) and 1 elsewhere, shaped like x.
func nonZeroMask(t *Node, rank int) *Node {
	g := t.Graph()
	m := ConvertDType(NotEqual(t, ScalarZero(g, t.DType())), dtypes.Float32)
	dims := make([]int, rank)
	dims[0] = t.Shape().Dimensions[0]
	for i := 1; i < rank; i++ {
		dims[i] = 1
	}
	return Reshape(m, dims...)
}

// Ancestral samples every step of the (possibly respaced) chain from p(x_{t-1} | x_t).
type Ancestral struct{ Spaced }

// Step implements plugins.Sampler: x_{t-1} = mean + [t > 0] sigma z.
func (Ancestral) Step(s plugins.SamplerStep) (*Node, *Node) {
	meanOut, varOut := s.Predictor.Split(s.Model(s.X, s.I))
	mean, logVar, _ := s.Predictor.Reverse(s.Process, meanOut, varOut, s.X, s.I, s.Clip)
	return Add(mean, Mul(nonZeroMask(s.I, s.X.Rank()), Mul(Exp(MulScalar(logVar, 0.5)), s.Noise))), s.State
}

// DDIM is the sampler of Song et al. (2021) on K spaced steps: with eta = 0 it is
// deterministic, with eta = 1 it matches ancestral sampling's variance.
type DDIM struct {
	Spaced
	Eta float64
}

// Step implements plugins.Sampler:
// x' = sqrt(alpha_bar_prev) x0 + sqrt(1 - alpha_bar_prev - sigma^2) eps + sigma z, with
// sigma = eta sqrt((1 - alpha_bar_prev)/(1 - alpha_bar)) sqrt(1 - alpha_bar/alpha_bar_prev).
func (d DDIM) Step(s plugins.SamplerStep) (*Node, *Node) {
	p, x, t := s.Process, s.X, s.I
	g, r := x.Graph(), x.Rank()
	x0, eps := denoise(s, x, t)
	sigma := make([]float64, p.T)
	dir := make([]float64, p.T)
	sqrtPrev := make([]float64, p.T)
	for i := range sigma {
		ab, prev := p.AlphaBar[i], p.AlphaBarPrev[i]
		sigma[i] = d.Eta * math.Sqrt((1-prev)/(1-ab)) * math.Sqrt(1-ab/prev)
		dir[i] = math.Sqrt(math.Max(0, 1-prev-sigma[i]*sigma[i]))
		sqrtPrev[i] = math.Sqrt(prev)
	}
	mean := Add(Mul(diffusion.Extract(g, sqrtPrev, t, r), x0), Mul(diffusion.Extract(g, dir, t, r), eps))
	return Add(mean, Mul(nonZeroMask(t, r), Mul(diffusion.Extract(g, sigma, t, r), s.Noise))), s.State
}

// denoise runs the model on x at plan step i and returns x_0-hat (clipped when the step
// says so) and the eps-hat consistent with it.
func denoise(s plugins.SamplerStep, x, i *Node) (x0, eps *Node) {
	meanOut, varOut := s.Predictor.Split(s.Model(x, i))
	_, _, x0 = s.Predictor.Reverse(s.Process, meanOut, varOut, x, i, s.Clip)
	return x0, s.Process.EpsFromX0(x, i, x0)
}
