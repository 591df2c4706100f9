package diffusion

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
)

// Diffusion is one model's diffusion math, as improved-diffusion's GaussianDiffusion: the
// chain (its Process, embedded), what the network's output means (its Parameterization,
// embedded), and how data are scored. Its methods are the reverse process (PMeanVariance),
// the sampling step (PSample), the variational-bound term shared by the losses and the bound
// (VLBTerm), the training losses (losses.go) and the bound (bound.go).
type Diffusion struct {
	*Process
	Parameterization
	// Discrete marks 8-bit data: the decoder term L_0 is the discretized Gaussian
	// likelihood; otherwise it is a density.
	Discrete bool
	// TanhDecoderCDF makes the discretized decoder use improved-diffusion's tanh
	// approximation of the normal CDF instead of the exact erf (loss.decoder_cdf = "tanh").
	TanhDecoderCDF bool
	// VLBBits says that the VLB term the losses add is in bits (loss.vlb_units = "bits"), not
	// nats (see VLBLoss); the logged L_t and the bound stay in nats.
	VLBBits bool
}

// OnChain is d on another chain (a sampler's respaced plan): the same parameterisation and
// data, p's steps.
func (d *Diffusion) OnChain(p *Process) *Diffusion {
	out := *d
	out.Process = p
	return &out
}

// PMeanVariance is p(x_{t-1} | x_t) = N(mean, exp(logVar)) from the two parts of the network
// output, with the x_0-hat it implies (clipped to [-1, 1] when clip is set), following
// improved-diffusion's p_mean_variance: x_0-hat = Mean.X0(output), and the mean is the
// posterior mean mu~_t(x_t, x_0-hat) (see QPosterior), or the output itself for mu.
func (d *Diffusion) PMeanVariance(meanOut, varOut, xt, t *Node, clip bool) (mean, logVar, x0 *Node) {
	logVar = d.Variance.LogVar(d.Process, varOut, xt, t)
	x0 = d.Mean.X0(d.Process, xt, t, meanOut)
	if clip {
		x0 = ClipScalar(x0, -1, 1)
	}
	if d.Mean.OutputIsMean {
		return meanOut, logVar, x0
	}
	mean, _ = d.QPosterior(x0, xt, t)
	return mean, logVar, x0
}

// PSample is one step of ancestral sampling (DDPM's Algorithm 2, improved-diffusion's
// p_sample) from the network output at (x_t, t): x_{t-1} = mean + [t > 0] sigma z, with z the
// given standard normal noise.
func (d *Diffusion) PSample(out, xt, t, noise *Node, clip bool) *Node {
	meanOut, varOut := d.Split(out)
	mean, logVar, _ := d.PMeanVariance(meanOut, varOut, xt, t, clip)
	return Add(mean, Mul(NonZeroMask(t, xt.Rank()), Mul(Exp(MulScalar(logVar, 0.5)), noise)))
}

// X0AndEps are x_0-hat from the network output at (x_t, t) (clipped when clip is set) and
// the eps-hat consistent with it, eps = (sqrt(1/alpha_bar_t) x_t - x_0) / sqrt(1/alpha_bar_t - 1)
// (see EpsFromX0): what DDIM and the ODE solvers step with.
func (d *Diffusion) X0AndEps(out, xt, t *Node, clip bool) (x0, eps *Node) {
	meanOut, varOut := d.Split(out)
	_, _, x0 = d.PMeanVariance(meanOut, varOut, xt, t, clip)
	return x0, d.EpsFromX0(xt, t, x0)
}

// DDIMSample is one step of DDIM (Song et al. 2021, eq. 12; improved-diffusion's
// ddim_sample) from the network output at (x_t, t), with x_0-hat and eps-hat from X0AndEps:
//
//	x_{t-1} = sqrt(alpha_bar_{t-1}) x_0-hat + sqrt(1 - alpha_bar_{t-1} - sigma_t^2) eps-hat + [t > 0] sigma_t z
//	sigma_t = eta sqrt((1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_{t-1})
//
// eta = 0 is deterministic; eta = 1 has the variance of ancestral sampling.
func (d *Diffusion) DDIMSample(out, xt, t, noise *Node, eta float64, clip bool) *Node {
	g, r := xt.Graph(), xt.Rank()
	x0, eps := d.X0AndEps(out, xt, t, clip)
	sigma := make([]float64, d.T)
	dir := make([]float64, d.T)
	sqrtPrev := make([]float64, d.T)
	for i := range sigma {
		ab, prev := d.AlphaBar[i], d.AlphaBarPrev[i]
		sigma[i] = eta * math.Sqrt((1-prev)/(1-ab)) * math.Sqrt(1-ab/prev)
		dir[i] = math.Sqrt(math.Max(0, 1-prev-sigma[i]*sigma[i]))
		sqrtPrev[i] = math.Sqrt(prev)
	}
	mean := Add(Mul(Extract(g, sqrtPrev, t, r), x0), Mul(Extract(g, dir, t, r), eps))
	return Add(mean, Mul(NonZeroMask(t, r), Mul(Extract(g, sigma, t, r), noise)))
}
