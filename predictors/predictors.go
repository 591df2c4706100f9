package predictors

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Mean types: what the mean part of the network output predicts.
const (
	MeanEps = "eps" // the noise eps added to x_0 (DDPM)
	MeanX0  = "x0"  // x_0 itself
	MeanMu  = "mu"  // the mean of x_{t-1} directly
	MeanV   = "v"   // v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans & Ho 2022)
)

// Variance kinds.
const (
	FixedSmall   = "fixed_small"   // beta~_t, the posterior variance (lower bound)
	FixedLarge   = "fixed_large"   // beta_t (upper bound), with beta~_1 at t = 0
	Learned      = "learned"       // the network outputs log sigma^2 directly
	LearnedRange = "learned_range" // the network outputs v in [-1, 1] between log beta~_t and log beta_t
)

// VarianceKinds lists the variance choices.
var VarianceKinds = []string{FixedSmall, FixedLarge, Learned, LearnedRange}

// Predictor combines a mean type and a variance kind; it implements plugins.Predictor.
type Predictor struct {
	Mean, Variance string
}

// OutputMultiplier implements plugins.Predictor.
func (p Predictor) OutputMultiplier() int {
	if p.LearnsVariance() {
		return 2
	}
	return 1
}

// TargetName implements plugins.TargetNamer: the mean type.
func (p Predictor) TargetName() string { return p.Mean }

// LearnsVariance implements plugins.Predictor.
func (p Predictor) LearnsVariance() bool { return p.Variance == Learned || p.Variance == LearnedRange }

// Split implements plugins.Predictor: with a learned variance the first half of the last
// axis is the mean part and the second half the variance part.
//
// The halves are taken with a mask and a sum rather than a slice: the pure-Go backend
// cannot differentiate Slice (its gradient needs Pad), while Mul and ReduceSum are cheap and
// differentiable everywhere.
func (p Predictor) Split(out *Node) (meanOut, varOut *Node) {
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

// Target implements plugins.Predictor.
func (p Predictor) Target(proc *diffusion.Process, x0, xt, t, noise *Node) *Node {
	switch p.Mean {
	case MeanEps:
		return noise
	case MeanX0:
		return x0
	case MeanMu:
		mean, _ := proc.QPosterior(x0, xt, t)
		return mean
	case MeanV:
		return proc.VTarget(x0, t, noise)
	}
	panic(fmt.Sprintf("predictors: unknown mean type %q", p.Mean))
}

// Reverse implements plugins.Predictor: it follows improved-diffusion's p_mean_variance.
func (p Predictor) Reverse(proc *diffusion.Process, meanOut, varOut, xt, t *Node, clip bool) (mean, logVar, x0 *Node) {
	logVar = p.LogVariance(proc, varOut, xt, t)
	maybeClip := func(x *Node) *Node {
		if clip {
			return ClipScalar(x, -1, 1)
		}
		return x
	}
	switch p.Mean {
	case MeanMu:
		mean = meanOut
		x0 = maybeClip(proc.X0FromMu(xt, t, meanOut))
		return mean, logVar, x0
	case MeanEps:
		x0 = proc.X0FromEps(xt, t, meanOut)
	case MeanX0:
		x0 = meanOut
	case MeanV:
		x0 = proc.X0FromV(xt, t, meanOut)
	default:
		panic(fmt.Sprintf("predictors: unknown mean type %q", p.Mean))
	}
	x0 = maybeClip(x0)
	mean, _ = proc.QPosterior(x0, xt, t)
	return mean, logVar, x0
}

// LogVariance is the log-variance of p(x_{t-1} | x_t) for the predictor's variance kind.
func (p Predictor) LogVariance(proc *diffusion.Process, varOut, xt, t *Node) *Node {
	g, r, dims := xt.Graph(), xt.Rank(), xt.Shape().Dimensions
	switch p.Variance {
	case FixedSmall:
		return BroadcastToDims(diffusion.Extract(g, proc.PosteriorLogVarianceClipped, t, r), dims...)
	case FixedLarge:
		return BroadcastToDims(diffusion.Extract(g, proc.FixedLargeLogVariance(), t, r), dims...)
	case Learned:
		return varOut
	case LearnedRange:
		// log sigma^2 = frac log beta_t + (1 - frac) log beta~_t, frac = (v + 1) / 2.
		minLog := diffusion.Extract(g, proc.PosteriorLogVarianceClipped, t, r)
		maxLog := diffusion.Extract(g, proc.LogBetas, t, r)
		frac := MulScalar(AddScalar(varOut, 1), 0.5)
		return Add(Mul(frac, maxLog), Mul(OneMinus(frac), minLog))
	}
	panic(fmt.Sprintf("predictors: unknown variance kind %q", p.Variance))
}

func init() {
	docs := map[string]string{
		MeanEps: "the network predicts the noise eps (DDPM)",
		MeanX0:  "the network predicts x_0",
		MeanMu:  "the network predicts the mean of x_{t-1} directly",
		MeanV:   "the network predicts v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0",
	}
	for _, mean := range []string{MeanEps, MeanX0, MeanMu, MeanV} {
		plugins.Register(plugins.Plugin{
			Kind: plugins.KindPredictor, Name: mean, Doc: docs[mean],
			Params: []plugins.Param{{
				Name: "variance", Type: plugins.String, Default: FixedLarge, Choices: VarianceKinds,
				Doc: "variance of p(x_{t-1}|x_t): fixed_small = beta~_t, fixed_large = beta_t, learned = log-variance output, learned_range = interpolation between them",
			}},
			New: func(v plugins.Values) (plugins.Predictor, error) {
				return Predictor{Mean: mean, Variance: v.String("variance")}, nil
			},
		})
	}
}
