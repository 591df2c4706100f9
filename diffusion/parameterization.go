package diffusion

import (
	"fmt"
	"math"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
)

// MeanType is a parameterisation of the reverse process's mean: what the mean part of the
// network output predicts, and the formulas that turn it into x_0-hat and the mean of
// p(x_{t-1} | x_t). The shipped ones are MeanEps, MeanX0, MeanMu and MeanV (the table Means);
// a plugin from another module may declare its own.
type MeanType struct {
	// Name names the parameterisation ("eps", "x0", "mu", "v"): the target a loss weights
	// by, and what checks name in their errors.
	Name string
	// Target is what the mean part regresses to in L_simple, given x_0, x_t, t and the noise
	// eps that made x_t.
	Target func(p *Process, x0, xt, t, eps *Node) *Node
	// X0 turns the mean part of the output at (x_t, t) into x_0-hat (before any clipping).
	X0 func(p *Process, xt, t, out *Node) *Node
	// OutputIsMean says that the output is the mean of p(x_{t-1} | x_t) itself (mu): the
	// reverse mean is then the output, not the posterior mean of the clipped x_0-hat.
	OutputIsMean bool
	// ReadsX0AtZeroSNR says that x_0-hat stays finite where alpha_bar_t = 0 (x_T of a chain
	// with zero terminal SNR): true for x0 and v, whose x_0 does not divide by sqrt(alpha_bar).
	ReadsX0AtZeroSNR bool
	// MinSNRWeight is the Min-SNR-gamma weight (Hang et al. 2023) of this target's MSE at a
	// step with signal-to-noise ratio snr; nil where the paper gives none (mu).
	MinSNRWeight func(snr, gamma float64) float64
}

// The mean parameterisations of the shipped predictors.
var (
	// MeanEps predicts the noise eps (DDPM): x_0 = sqrt(1/alpha_bar_t) x_t - sqrt(1/alpha_bar_t - 1) eps.
	// Min-SNR weight min(SNR, gamma) / SNR.
	MeanEps = MeanType{
		Name:   "eps",
		Target: func(_ *Process, _, _, _, eps *Node) *Node { return eps },
		X0:     (*Process).X0FromEps,
		MinSNRWeight: func(snr, gamma float64) float64 {
			return math.Min(snr, gamma) / snr
		},
	}
	// MeanX0 predicts x_0 itself. Min-SNR weight min(SNR, gamma).
	MeanX0 = MeanType{
		Name:             "x0",
		Target:           func(_ *Process, x0, _, _, _ *Node) *Node { return x0 },
		X0:               func(_ *Process, _, _, out *Node) *Node { return out },
		ReadsX0AtZeroSNR: true,
		MinSNRWeight:     func(snr, gamma float64) float64 { return math.Min(snr, gamma) },
	}
	// MeanMu predicts the mean of x_{t-1} directly, the target being the posterior mean
	// mu~_t(x_t, x_0); x_0 = (mu - coef2 x_t) / coef1 (see X0FromMu).
	MeanMu = MeanType{
		Name: "mu",
		Target: func(p *Process, x0, xt, t, _ *Node) *Node {
			mean, _ := p.QPosterior(x0, xt, t)
			return mean
		},
		X0:           (*Process).X0FromMu,
		OutputIsMean: true,
	}
	// MeanV predicts v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans & Ho
	// 2022): x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v. Min-SNR weight
	// min(SNR, gamma) / (SNR + 1).
	MeanV = MeanType{
		Name:             "v",
		Target:           func(p *Process, x0, _, t, eps *Node) *Node { return p.VTarget(x0, t, eps) },
		X0:               (*Process).X0FromV,
		ReadsX0AtZeroSNR: true,
		MinSNRWeight: func(snr, gamma float64) float64 {
			return math.Min(snr, gamma) / (snr + 1)
		},
	}
)

// Means lists the shipped mean parameterisations, in the order the predictors register them.
var Means = []MeanType{MeanEps, MeanX0, MeanMu, MeanV}

// MinSNRWeights is the Min-SNR-gamma weight of the target's MSE at each step of a chain with
// the given alpha_bar, in float64: SNR_t = alpha_bar_t / (1 - alpha_bar_t) is clamped at
// gamma, so that the low-noise steps, whose MSE is small and easy, do not dominate.
func (m MeanType) MinSNRWeights(alphaBar []float64, gamma float64) ([]float64, error) {
	if m.MinSNRWeight == nil {
		var have []string
		for _, s := range Means {
			if s.MinSNRWeight != nil {
				have = append(have, s.Name)
			}
		}
		list := strings.Join(have[:len(have)-1], ", ") + " and " + have[len(have)-1]
		return nil, fmt.Errorf("min_snr weighting is defined for %s targets, not %q", list, m.Name)
	}
	w := make([]float64, len(alphaBar))
	for t, ab := range alphaBar {
		w[t] = m.MinSNRWeight(ab/(1-ab), gamma)
	}
	return w, nil
}

// VarType is a parameterisation of the reverse process's variance: how the log-variance of
// p(x_{t-1} | x_t) is chosen or read from the network. The shipped ones are VarFixedSmall,
// VarFixedLarge, VarLearned and VarLearnedRange (the table Variances).
type VarType struct {
	Name string
	// FromNetwork says that the network outputs a variance part (as wide as the mean part).
	FromNetwork bool
	// LogVar is log sigma_t^2 at (x_t, t), shaped like x_t, given the variance part of the
	// output (nil for a fixed variance).
	LogVar func(p *Process, varOut, xt, t *Node) *Node
}

// The variance parameterisations of the shipped predictors.
var (
	// VarFixedSmall is sigma_t^2 = beta~_t, the posterior variance (DDPM's lower bound on the
	// reverse variance), its log clipped at t = 0 as in QPosterior.
	VarFixedSmall = VarType{
		Name: "fixed_small",
		LogVar: func(p *Process, _, xt, t *Node) *Node {
			return BroadcastToDims(Extract(xt.Graph(), p.PosteriorLogVarianceClipped, t, xt.Rank()), xt.Shape().Dimensions...)
		},
	}
	// VarFixedLarge is sigma_t^2 = beta_t (DDPM's upper bound), with beta~_1 at t = 0 (see
	// FixedLargeLogVariance).
	VarFixedLarge = VarType{
		Name: "fixed_large",
		LogVar: func(p *Process, _, xt, t *Node) *Node {
			return BroadcastToDims(Extract(xt.Graph(), p.FixedLargeLogVariance(), t, xt.Rank()), xt.Shape().Dimensions...)
		},
	}
	// VarLearned reads log sigma_t^2 from the network directly.
	VarLearned = VarType{
		Name:        "learned",
		FromNetwork: true,
		LogVar:      func(_ *Process, varOut, _, _ *Node) *Node { return varOut },
	}
	// VarLearnedRange is Improved DDPM's interpolation (their eq. 15): the network outputs v
	// in [-1, 1] and log sigma_t^2 = frac log beta_t + (1 - frac) log beta~_t, frac = (v + 1) / 2.
	VarLearnedRange = VarType{
		Name:        "learned_range",
		FromNetwork: true,
		LogVar: func(p *Process, varOut, xt, t *Node) *Node {
			g, r := xt.Graph(), xt.Rank()
			minLog := Extract(g, p.PosteriorLogVarianceClipped, t, r)
			maxLog := Extract(g, p.LogBetas, t, r)
			frac := MulScalar(AddScalar(varOut, 1), 0.5)
			return Add(Mul(frac, maxLog), Mul(OneMinus(frac), minLog))
		},
	}
)

// Variances lists the shipped variance parameterisations, in the order `runner plugins`
// shows them.
var Variances = []VarType{VarFixedSmall, VarFixedLarge, VarLearned, VarLearnedRange}

// VarianceNamed finds a shipped variance parameterisation by name.
func VarianceNamed(name string) (VarType, error) {
	for _, v := range Variances {
		if v.Name == name {
			return v, nil
		}
	}
	var names []string
	for _, v := range Variances {
		names = append(names, v.Name)
	}
	return VarType{}, fmt.Errorf("unknown variance %q (valid: %s)", name, strings.Join(names, ", "))
}

// Parameterization is what the network's output means: a mean parameterisation and a
// variance one. It is the value a predictor plugin builds.
type Parameterization struct {
	Mean     MeanType
	Variance VarType
}

// Parameterization returns p itself: a Parameterization is the value of a predictor plugin
// (plugins.Predictor).
func (p Parameterization) Parameterization() Parameterization { return p }

// LearnsVariance reports whether part of the output is a variance.
func (p Parameterization) LearnsVariance() bool { return p.Variance.FromNetwork }

// OutputMultiplier is how many times the data's width the network outputs: 1 for a fixed
// variance, 2 when the variance is learned as well.
func (p Parameterization) OutputMultiplier() int {
	if p.LearnsVariance() {
		return 2
	}
	return 1
}

// Split separates the network output into the mean part and the variance part (nil for a
// fixed variance): with a learned variance the first half of the last axis is the mean part
// and the second half the variance part.
//
// The halves are taken with a mask and a sum rather than a slice: the pure-Go backend
// cannot differentiate Slice (its gradient needs Pad), while Mul and ReduceSum are cheap and
// differentiable everywhere.
func (p Parameterization) Split(out *Node) (meanOut, varOut *Node) {
	if !p.LearnsVariance() {
		return out, nil
	}
	g := out.Graph()
	dims := out.Shape().Dimensions
	last := dims[len(dims)-1] / 2
	halves := Reshape(out, append(append([]int{}, dims[:len(dims)-1]...), 2, last)...) // [..., 2, D]
	pick := func(k int) *Node {
		mask := make([]float32, 2)
		mask[k] = 1
		m := Reshape(ConvertDType(Const(g, mask), out.DType()), 2, 1)
		return ReduceSum(Mul(halves, ExpandLeftToRank(m, halves.Rank())), halves.Rank()-2)
	}
	return pick(0), pick(1)
}

// Guide is classifier-free guidance (Ho & Salimans 2022) on two outputs of the network, for
// a class and for no class: out = uncond + s (cond - uncond) on the mean part; a learned
// variance part is the conditional output's, unguided.
func (p Parameterization) Guide(cond, uncond *Node, s float64) *Node {
	mix := func(c, u *Node) *Node { return Add(u, MulScalar(Sub(c, u), s)) }
	if !p.LearnsVariance() {
		return mix(cond, uncond)
	}
	meanC, varC := p.Split(cond)
	meanU, _ := p.Split(uncond)
	return Concatenate([]*Node{mix(meanC, meanU), varC}, -1)
}
