package diffusion

import (
	"fmt"
	"math"
)

// Process holds a diffusion chain's schedule and every per-step quantity derived from it,
// in float64, indexed by t = 0..T-1 (index t is the paper's step t+1). This is the one place
// where the derived quantities are computed; graph code reads them as constants.
type Process struct {
	T int
	// Rescaled marks a chain whose betas were rescaled to zero terminal SNR
	// (schedule.zero_terminal_snr); respacing keeps it.
	Rescaled bool
	Betas    []float64
	// Alphas is 1 - beta_t.
	Alphas []float64
	// AlphaBar is prod_{s<=t} alpha_s; AlphaBarPrev is the same shifted by one (1 at t = 0).
	AlphaBar, AlphaBarPrev []float64
	// SqrtAlphaBar, SqrtOneMinusAlphaBar: the mean scale and standard deviation of q(x_t|x_0).
	SqrtAlphaBar, SqrtOneMinusAlphaBar []float64
	// LogOneMinusAlphaBar is log(1 - alpha_bar_t), the log-variance of q(x_t|x_0).
	LogOneMinusAlphaBar []float64
	// SqrtRecipAlphaBar = sqrt(1/alpha_bar_t) and SqrtRecipM1AlphaBar = sqrt(1/alpha_bar_t - 1)
	// turn eps into x_0: x_0 = SqrtRecipAlphaBar x_t - SqrtRecipM1AlphaBar eps.
	SqrtRecipAlphaBar, SqrtRecipM1AlphaBar []float64
	// PosteriorVariance is beta~_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t), the
	// variance of q(x_{t-1}|x_t, x_0). It is 0 at t = 0.
	PosteriorVariance []float64
	// PosteriorLogVarianceClipped is log beta~_t with the t = 0 entry replaced by beta~_1
	// (index 1), because log 0 is -inf.
	PosteriorLogVarianceClipped []float64
	// PosteriorMeanCoef1 and PosteriorMeanCoef2 give the posterior mean
	// mu~_t = coef1 x_0 + coef2 x_t, with coef1 = beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t)
	// and coef2 = (1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t).
	PosteriorMeanCoef1, PosteriorMeanCoef2 []float64
	// LogBetas is log beta_t, the upper end of learned_range and the fixed_large log-variance
	// (fixed_large uses beta~_1 at t = 0; see FixedLargeLogVariance).
	LogBetas []float64
}

// RescaleZeroTerminalSNR rescales a schedule so that its last step has zero signal-to-noise
// ratio, alpha_bar_T = 0 (Lin et al. 2024, Algorithm 1): sqrt(alpha_bar) is shifted so that
// its last value is 0 and scaled so that its first is kept, and the betas are recovered from
// the ratios of consecutive alpha_bar. The last beta becomes 1: x_T is pure noise, as the
// sampler assumes when it starts from N(0, I).
func RescaleZeroTerminalSNR(betas []float64) []float64 {
	T := len(betas)
	sqrtAB := make([]float64, T)
	prod := 1.0
	for t, b := range betas {
		prod *= 1 - b
		sqrtAB[t] = math.Sqrt(prod)
	}
	first, last := sqrtAB[0], sqrtAB[T-1]
	out := make([]float64, T)
	prev := 1.0
	for t := range sqrtAB {
		s := (sqrtAB[t] - last) * first / (first - last)
		ab := s * s
		out[t] = 1 - ab/prev
		prev = ab
	}
	out[T-1] = 1 // exactly: alpha_bar_T = 0
	return out
}

// ZeroTerminalSNR reports whether the chain was rescaled to end at alpha_bar = 0 (Rescaled,
// set with RescaleZeroTerminalSNR's betas), where eps-hat alone cannot give x_0. A schedule
// whose last beta is 1 by itself (linear at T = 20) is not counted: its runs keep the
// graphs they always had.
func (p *Process) ZeroTerminalSNR() bool { return p.Rescaled && p.AlphaBar[p.T-1] == 0 }

// NewProcess derives all per-step quantities from betas, which must lie in (0, 1].
func NewProcess(betas []float64) (*Process, error) {
	T := len(betas)
	if T < 1 {
		return nil, fmt.Errorf("diffusion: empty beta schedule")
	}
	for i, b := range betas {
		if !(b > 0 && b <= 1) {
			return nil, fmt.Errorf("diffusion: beta_%d = %g is outside (0, 1]", i+1, b)
		}
	}
	p := &Process{T: T, Betas: append([]float64(nil), betas...)}
	mk := func() []float64 { return make([]float64, T) }
	p.Alphas, p.AlphaBar, p.AlphaBarPrev = mk(), mk(), mk()
	p.SqrtAlphaBar, p.SqrtOneMinusAlphaBar, p.LogOneMinusAlphaBar = mk(), mk(), mk()
	p.SqrtRecipAlphaBar, p.SqrtRecipM1AlphaBar = mk(), mk()
	p.PosteriorVariance, p.PosteriorLogVarianceClipped = mk(), mk()
	p.PosteriorMeanCoef1, p.PosteriorMeanCoef2, p.LogBetas = mk(), mk(), mk()
	prod := 1.0
	for t, b := range betas {
		p.Alphas[t] = 1 - b
		p.AlphaBarPrev[t] = prod
		prod *= 1 - b
		p.AlphaBar[t] = prod
	}
	for t := range T {
		ab, abPrev := p.AlphaBar[t], p.AlphaBarPrev[t]
		p.SqrtAlphaBar[t] = math.Sqrt(ab)
		p.SqrtOneMinusAlphaBar[t] = math.Sqrt(1 - ab)
		p.LogOneMinusAlphaBar[t] = math.Log(1 - ab)
		p.SqrtRecipAlphaBar[t] = math.Sqrt(1 / ab)
		p.SqrtRecipM1AlphaBar[t] = math.Sqrt(1/ab - 1)
		p.PosteriorVariance[t] = betas[t] * (1 - abPrev) / (1 - ab)
		p.PosteriorMeanCoef1[t] = betas[t] * math.Sqrt(abPrev) / (1 - ab)
		p.PosteriorMeanCoef2[t] = (1 - abPrev) * math.Sqrt(p.Alphas[t]) / (1 - ab)
		p.LogBetas[t] = math.Log(betas[t])
	}
	for t := range T {
		v := p.PosteriorVariance[t]
		if t == 0 && T > 1 {
			v = p.PosteriorVariance[1]
		}
		p.PosteriorLogVarianceClipped[t] = math.Log(v)
	}
	return p, nil
}

// FixedLargeLogVariance is the log-variance of the fixed_large choice: log beta_t, except at
// t = 0 where Improved DDPM uses beta~_1 (the posterior variance of the second step) so
// that the decoder is not needlessly wide.
func (p *Process) FixedLargeLogVariance() []float64 {
	out := append([]float64(nil), p.LogBetas...)
	if p.T > 1 {
		out[0] = math.Log(p.PosteriorVariance[1])
	}
	return out
}

// PriorKL is L_T = KL(q(x_T | x_0) || N(0, I)) = KL(N(sqrt(alpha_bar_T) x_0, 1 - alpha_bar_T)
// || N(0, 1)) per dimension, averaged over the values of x (examples of any width), computed
// on the host in float64. It has no parameters: it measures how well the chain destroys the
// signal.
func (p *Process) PriorKL(x []float32) float64 {
	last := p.T - 1
	m, v := p.SqrtAlphaBar[last], 1-p.AlphaBar[last]
	var sum float64
	for _, xi := range x {
		mean := m * float64(xi)
		sum += 0.5 * (-1 - math.Log(v) + v + mean*mean)
	}
	return sum / float64(len(x))
}
