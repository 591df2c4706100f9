package diffusion

import (
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
)

// Extract gathers values[t] for each example (t has shape [batch], int32) and shapes the result
// [batch, 1, ..., 1] with the given rank, ready to broadcast against x_t. The table is a
// float32 constant of the graph, converted once from the float64 Process.
func Extract(g *Graph, values []float64, t *Node, rank int) *Node {
	table := make([]float32, len(values))
	for i, v := range values {
		table[i] = float32(v)
	}
	out := Gather(Const(g, table), ExpandAxes(t, -1)) // [batch]
	dims := make([]int, rank)
	dims[0] = t.Shape().Dimensions[0]
	for i := 1; i < rank; i++ {
		dims[i] = 1
	}
	return Reshape(out, dims...)
}

// QSample draws x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) with the given
// standard normal noise: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.
func (p *Process) QSample(x0, t, noise *Node) *Node {
	g, r := x0.Graph(), x0.Rank()
	return Add(Mul(Extract(g, p.SqrtAlphaBar, t, r), x0), Mul(Extract(g, p.SqrtOneMinusAlphaBar, t, r), noise))
}

// QPosterior returns the mean and the clipped log-variance of q(x_{t-1} | x_t, x_0):
//
//	mu~_t = [beta_t sqrt(alpha_bar_{t-1}) / (1 - alpha_bar_t)] x_0 + [(1 - alpha_bar_{t-1}) sqrt(alpha_t) / (1 - alpha_bar_t)] x_t
//	beta~_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t), its log clipped at t = 0 by beta~_1.
func (p *Process) QPosterior(x0, xt, t *Node) (mean, logVar *Node) {
	g, r := x0.Graph(), x0.Rank()
	mean = Add(Mul(Extract(g, p.PosteriorMeanCoef1, t, r), x0), Mul(Extract(g, p.PosteriorMeanCoef2, t, r), xt))
	logVar = BroadcastToDims(Extract(g, p.PosteriorLogVarianceClipped, t, r), x0.Shape().Dimensions...)
	return mean, logVar
}

// X0FromEps inverts the forward process for a predicted noise:
// x_0 = sqrt(1/alpha_bar_t) x_t - sqrt(1/alpha_bar_t - 1) eps.
func (p *Process) X0FromEps(xt, t, eps *Node) *Node {
	g, r := xt.Graph(), xt.Rank()
	return Sub(Mul(Extract(g, p.SqrtRecipAlphaBar, t, r), xt), Mul(Extract(g, p.SqrtRecipM1AlphaBar, t, r), eps))
}

// EpsFromX0 is the inverse of X0FromEps: eps = (sqrt(1/alpha_bar_t) x_t - x_0) / sqrt(1/alpha_bar_t - 1).
// On a chain with zero terminal SNR it is x_t itself where alpha_bar_t = 0 (x_T is pure noise),
// where the formula would divide infinities.
func (p *Process) EpsFromX0(xt, t, x0 *Node) *Node {
	g, r := xt.Graph(), xt.Rank()
	eps := Div(Sub(Mul(Extract(g, p.SqrtRecipAlphaBar, t, r), xt), x0), Extract(g, p.SqrtRecipM1AlphaBar, t, r))
	if !p.ZeroTerminalSNR() {
		return eps
	}
	noSignal := make([]float64, p.T)
	for i, ab := range p.AlphaBar {
		if ab == 0 {
			noSignal[i] = 1
		}
	}
	isNoise := BroadcastToShape(NotEqual(Extract(g, noSignal, t, r), ScalarZero(g, xt.DType())), eps.Shape())
	return Where(isNoise, BroadcastToShape(xt, eps.Shape()), eps)
}

// X0FromV converts a v-prediction: x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v.
func (p *Process) X0FromV(xt, t, v *Node) *Node {
	g, r := xt.Graph(), xt.Rank()
	return Sub(Mul(Extract(g, p.SqrtAlphaBar, t, r), xt), Mul(Extract(g, p.SqrtOneMinusAlphaBar, t, r), v))
}

// VTarget is the v-prediction target: v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0.
func (p *Process) VTarget(x0, t, eps *Node) *Node {
	g, r := x0.Graph(), x0.Rank()
	return Sub(Mul(Extract(g, p.SqrtAlphaBar, t, r), eps), Mul(Extract(g, p.SqrtOneMinusAlphaBar, t, r), x0))
}

// X0FromMu inverts the posterior mean for a predicted x_{t-1} mean:
// x_0 = (mu - coef2 x_t) / coef1.
func (p *Process) X0FromMu(xt, t, mu *Node) *Node {
	g, r := xt.Graph(), xt.Rank()
	return Div(Sub(mu, Mul(Extract(g, p.PosteriorMeanCoef2, t, r), xt)), Extract(g, p.PosteriorMeanCoef1, t, r))
}

// NormalKL is KL(N(mean1, exp(logVar1)) || N(mean2, exp(logVar2))) element-wise, in nats:
// 0.5 (-1 + logVar2 - logVar1 + exp(logVar1 - logVar2) + (mean1 - mean2)^2 exp(-logVar2)).
func NormalKL(mean1, logVar1, mean2, logVar2 *Node) *Node {
	return MulScalar(Add(
		AddScalar(Sub(logVar2, logVar1), -1),
		Add(Exp(Sub(logVar1, logVar2)), Mul(Square(Sub(mean1, mean2)), Exp(Neg(logVar2))))), 0.5)
}

// StandardNormalCDF is Phi(x) = (1 + erf(x / sqrt 2)) / 2.
func StandardNormalCDF(x *Node) *Node {
	return MulScalar(AddScalar(Erf(MulScalar(x, 1/math.Sqrt2)), 1), 0.5)
}

// ApproxStandardNormalCDF is improved-diffusion's approx_standard_normal_cdf, the tanh
// approximation of Phi: (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
func ApproxStandardNormalCDF(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
	return MulScalar(AddScalar(Tanh(inner), 1), 0.5)
}

// DiscretizedGaussianLogLikelihood is log p(x) for 8-bit data scaled to [-1, 1] under a
// Gaussian discretized into 256 bins of width 2/255: log[Phi((x + 1/255 - mean)/sigma) -
// Phi((x - 1/255 - mean)/sigma)], with the edge bins open (x = -1 takes all mass below, x = 1
// all mass above). Probabilities are floored at 1e-12 as in Improved DDPM.
//
// It computes in float64: a bin is narrow, and in float32 the difference of two CDF values
// near 1 loses about four digits (GoMLX has no erfc to work in the tail instead).
func DiscretizedGaussianLogLikelihood(x, mean, logVar *Node) *Node {
	return discretizedLogLikelihood(x, mean, logVar, StandardNormalCDF)
}

// discretizedLogLikelihood is DiscretizedGaussianLogLikelihood with the given normal CDF.
func discretizedLogLikelihood(x, mean, logVar *Node, cdf func(*Node) *Node) *Node {
	dt := x.DType()
	x, mean, logVar = ConvertDType(x, dtypes.Float64), ConvertDType(mean, dtypes.Float64), ConvertDType(logVar, dtypes.Float64)
	g := x.Graph()
	invStd := Exp(MulScalar(logVar, -0.5))
	centered := Sub(x, mean)
	cdfPlus := cdf(Mul(invStd, AddScalar(centered, 1.0/255)))
	cdfMin := cdf(Mul(invStd, AddScalar(centered, -1.0/255)))
	floor := func(v *Node) *Node { return Max(v, Scalar(g, v.DType(), 1e-12)) }
	logCdfPlus := Log(floor(cdfPlus))
	logOneMinusCdfMin := Log(floor(OneMinus(cdfMin)))
	logDelta := Log(floor(Sub(cdfPlus, cdfMin)))
	low := LessThan(x, Scalar(g, x.DType(), -0.999))
	high := GreaterThan(x, Scalar(g, x.DType(), 0.999))
	return ConvertDType(Where(low, logCdfPlus, Where(high, logOneMinusCdfMin, logDelta)), dt)
}

// GaussianLogDensity is log N(x; mean, exp(logVar)) element-wise, for continuous data:
// -0.5 (log 2 pi + logVar + (x - mean)^2 exp(-logVar)).
func GaussianLogDensity(x, mean, logVar *Node) *Node {
	return MulScalar(AddScalar(Add(logVar, Mul(Square(Sub(x, mean)), Exp(Neg(logVar)))), math.Log(2*math.Pi)), -0.5)
}

// MeanFlat averages over every axis but the first (the batch), giving per-example values.
func MeanFlat(x *Node) *Node {
	if x.Rank() == 1 {
		return x
	}
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	return ReduceMean(x, axes...)
}

// NonZeroMask is 0 where t == 0 (the last step of a chain adds no noise) and 1 elsewhere,
// shaped [batch, 1, ..., 1] with the given rank to broadcast against x.
func NonZeroMask(t *Node, rank int) *Node {
	g := t.Graph()
	m := ConvertDType(NotEqual(t, ScalarZero(g, t.DType())), dtypes.Float32)
	dims := make([]int, rank)
	dims[0] = t.Shape().Dimensions[0]
	for i := 1; i < rank; i++ {
		dims[i] = 1
	}
	return Reshape(m, dims...)
}
