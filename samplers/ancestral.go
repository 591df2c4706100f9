package samplers

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Ancestral samples every step of the (possibly respaced) chain from p(x_{t-1} | x_t).
type Ancestral struct{ Spaced }

// Step implements plugins.Sampler: x_{t-1} = mean + [t > 0] sigma z (diffusion's PSample).
func (Ancestral) Step(s plugins.SamplerStep) (*Node, *Node) {
	return s.Diffusion.PSample(s.Model(s.X, s.I), s.X, s.I, s.Noise, s.Clip), s.State
}

// DDIM is the sampler of Song et al. (2021) on K spaced steps: with eta = 0 it is
// deterministic, with eta = 1 it matches ancestral sampling's variance.
type DDIM struct {
	Spaced
	Eta float64
}

// Step implements plugins.Sampler with diffusion's DDIMSample.
func (d DDIM) Step(s plugins.SamplerStep) (*Node, *Node) {
	return s.Diffusion.DDIMSample(s.Model(s.X, s.I), s.X, s.I, s.Noise, d.Eta, s.Clip), s.State
}

// denoise runs the model on x at plan step i and returns x_0-hat (clipped when the step
// says so) and the eps-hat consistent with it.
func denoise(s plugins.SamplerStep, x, i *Node) (x0, eps *Node) {
	return s.Diffusion.X0AndEps(s.Model(x, i), x, i, s.Clip)
}
