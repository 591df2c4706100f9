package samplers

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// The ODE samplers integrate the probability-flow ODE of the chain in the variables of
// Karras et al. (2022): x~ = x / sqrt(alpha_bar) and sigma = sqrt((1 - alpha_bar) / alpha_bar),
// where x~ = x0 + sigma eps and dx~/dsigma = (x~ - D(x~)) / sigma = eps-hat, D being the
// model's x_0-hat. Plan step i sits at sigma_i (alpha_bar of the plan's process) and moves to
// sigma'_i = the sigma of alpha_bar_prev, which is 0 at the last step (alpha_bar_prev = 1).
// All of them are deterministic: they draw no noise.
//
// Each update is written in x_0-hat and eps-hat, never in x~ itself: at sigma_max = 158 (the
// linear schedule at T = 1000) x~ is about 160 times x, and a float32 update of the form
// x~ + (sigma' - sigma) eps cancels two numbers of that size to leave one of order 1, losing
// four digits. Substituting x~ = x0-hat + sigma eps-hat gives the same values exactly in
// real arithmetic without the cancellation (the float64 references in the tests use the
// x~ form).

// sigmaTables are the per-step constants of the ODE samplers, in float64.
type sigmaTables struct {
	sigma, sigmaNext []float64 // sigma_i and sigma'_i
	sqrtABNext       []float64 // sqrt(alpha_bar_prev_i): x = sqrt(alpha_bar) x~
}

func newSigmaTables(p *diffusion.Process) sigmaTables {
	n := p.T
	st := sigmaTables{make([]float64, n), make([]float64, n), make([]float64, n)}
	for i := range n {
		ab, prev := p.AlphaBar[i], p.AlphaBarPrev[i]
		st.sigma[i] = math.Sqrt((1 - ab) / ab)
		st.sigmaNext[i] = math.Sqrt((1 - prev) / prev)
		st.sqrtABNext[i] = math.Sqrt(prev)
	}
	return st
}

// at gathers a table's value for each example's step, shaped to broadcast against x.
func at(table []float64, x, i *Node) *Node { return diffusion.Extract(x.Graph(), table, i, x.Rank()) }

// Euler is Euler's method on the probability-flow ODE (Karras et al. 2022, their Algorithm 1
// without the second-order correction): x~' = x~ + (sigma' - sigma) eps-hat, that is
// x~' = x0-hat + sigma' eps-hat. One network evaluation per step. It is DDIM with eta = 0
// in other variables (a test checks that they agree).
type Euler struct{ Spaced }

// Step implements plugins.Sampler.
func (e Euler) Step(s plugins.SamplerStep) (*Node, *Node) {
	st := newSigmaTables(s.Diffusion.Process)
	x, i := s.X, s.I
	x0, eps := denoise(s, x, i)
	next := Add(x0, Mul(eps, at(st.sigmaNext, x, i))) // x~'
	return Mul(next, at(st.sqrtABNext, x, i)), s.State
}

// Heun is Heun's second-order method on the probability-flow ODE (Karras et al. 2022,
// Algorithm 1 with S_churn = 0): an Euler step to sigma', a second evaluation there, and the
// step redone with the mean of the two slopes,
// x~' = x~ + (sigma' - sigma) (eps1 + eps2)/2 = x0-hat + sigma' (eps1 + eps2)/2 + sigma (eps1 - eps2)/2.
// The last step (to sigma' = 0) stays an Euler step, as in the paper. NFE: 2 per step but
// the last, 2K - 1 in all.
type Heun struct{ Spaced }

// RefuseZeroSNR implements plugins.ZeroSNRRefuser: Heun's correction is taken at the next
// sigma, which at the first step of a chain ending at alpha_bar_T = 0 follows a step from
// sigma = infinity.
func (Heun) RefuseZeroSNR() (why, instead string) {
	return "cannot start at sigma = infinity", "use euler, dpmpp_2m, ddim or an ancestral sampler"
}

// Step implements plugins.Sampler.
func (h Heun) Step(s plugins.SamplerStep) (*Node, *Node) {
	st := newSigmaTables(s.Diffusion.Process)
	x, i := s.X, s.I
	x0, eps1 := denoise(s, x, i)
	sqrtNext, sigmaNext := at(st.sqrtABNext, x, i), at(st.sigmaNext, x, i)
	euler := Mul(Add(x0, Mul(eps1, sigmaNext)), sqrtNext) // x at plan step i-1
	if s.Last {
		return euler, s.State
	}
	_, eps2 := denoise(s, euler, SubScalar(i, 1))
	mean := MulScalar(Add(eps1, eps2), 0.5)
	half := MulScalar(Sub(eps1, eps2), 0.5)
	next := Add(Add(x0, Mul(mean, sigmaNext)), Mul(half, at(st.sigma, x, i)))
	return Mul(next, sqrtNext), s.State
}

// DPMSolver2M is DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2; as in
// k-diffusion's sample_dpmpp_2m): a second-order multistep method in lambda = -log sigma on
// x_0-hat. With h = lambda' - lambda and r = h_prev / h,
// x~' = (sigma'/sigma) x~ - expm1(-h) D', D' = (1 + 1/(2r)) D - (1/(2r)) D_prev,
// that is x~' = D' + (sigma'/sigma) (D - D') + sigma' eps-hat, as -expm1(-h) = 1 - sigma'/sigma.
// The first step (no D_prev yet) and the last (sigma' = 0) use D' = D, which makes the last
// step return D. One network evaluation per step; the state carries D.
type DPMSolver2M struct{ Spaced }

// dpmCoefficients are DPM-Solver++(2M)'s per-step constants: the ratio sigma'/sigma and the
// weights of D and D_prev in D' (1 and 0 where D' = D).
func dpmCoefficients(st sigmaTables) (ratio, cur, prev []float64) {
	n := len(st.sigma)
	ratio, cur, prev = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		ratio[i] = st.sigmaNext[i] / st.sigma[i]
		cur[i] = 1
		if i > 0 && i < n-1 { // a previous step exists (i+1) and this is not the last (i = 0)
			h := math.Log(st.sigma[i] / st.sigmaNext[i])
			hPrev := math.Log(st.sigma[i+1] / st.sigma[i])
			r := hPrev / h
			cur[i], prev[i] = 1+1/(2*r), 1/(2*r)
		}
	}
	return ratio, cur, prev
}

// Step implements plugins.Sampler.
func (d DPMSolver2M) Step(s plugins.SamplerStep) (*Node, *Node) {
	st := newSigmaTables(s.Diffusion.Process)
	ratio, cur, prev := dpmCoefficients(st)
	x, i := s.X, s.I
	x0, eps := denoise(s, x, i)
	dd := x0
	if !s.First && !s.Last {
		dd = Sub(Mul(x0, at(cur, x, i)), Mul(s.State, at(prev, x, i)))
	}
	next := Add(Add(dd, Mul(Sub(x0, dd), at(ratio, x, i))), Mul(eps, at(st.sigmaNext, x, i)))
	return Mul(next, at(st.sqrtABNext, x, i)), x0
}
