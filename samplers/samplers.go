// Package samplers holds the sampler plugins: ancestral (every step of p(x_{t-1}|x_t)),
// respaced (K evenly spaced steps, betas recomputed for the shorter chain as Improved DDPM
// does), and ddim (Song et al. 2021, with its eta).
package samplers

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// SpacedTimesteps picks k timesteps out of 0..T-1, evenly spaced and always including the
// first and last (improved-diffusion's space_timesteps for one section).
func SpacedTimesteps(T, k int) ([]int, error) {
	if k < 1 || k > T {
		return nil, fmt.Errorf("cannot take %d steps out of T = %d (want 1 <= steps <= T)", k, T)
	}
	if k == 1 {
		return []int{T - 1}, nil
	}
	stride := float64(T-1) / float64(k-1)
	out := make([]int, k)
	for i := range out {
		out[i] = int(math.Round(float64(i) * stride))
	}
	return out, nil
}

// Respace derives the process that visits only the given timesteps: alpha_bar is kept at
// each visited step and beta_i = 1 - alpha_bar_{t_i} / alpha_bar_{t_{i-1}}.
func Respace(p *diffusion.Process, timesteps []int) (*diffusion.Process, error) {
	betas := make([]float64, len(timesteps))
	last := 1.0
	for i, t := range timesteps {
		betas[i] = 1 - p.AlphaBar[t]/last
		last = p.AlphaBar[t]
	}
	return diffusion.NewProcess(betas)
}

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
type Ancestral struct {
	Steps int // 0: all T steps
}

// Plan implements plugins.Sampler.
func (a Ancestral) Plan(p *diffusion.Process) (*diffusion.Process, []int, error) {
	if a.Steps == 0 || a.Steps == p.T {
		ts := make([]int, p.T)
		for i := range ts {
			ts[i] = i
		}
		return p, ts, nil
	}
	ts, err := SpacedTimesteps(p.T, a.Steps)
	if err != nil {
		return nil, nil, err
	}
	q, err := Respace(p, ts)
	return q, ts, err
}

// Step implements plugins.Sampler: x_{t-1} = mean + [t > 0] sigma z.
func (Ancestral) Step(p *diffusion.Process, pred plugins.Predictor, out, x, t, noise *Node, clip bool) *Node {
	meanOut, varOut := pred.Split(out)
	mean, logVar, _ := pred.Reverse(p, meanOut, varOut, x, t, clip)
	return Add(mean, Mul(nonZeroMask(t, x.Rank()), Mul(Exp(MulScalar(logVar, 0.5)), noise)))
}

// DDIM is the sampler of Song et al. (2021) on K evenly spaced steps: with eta = 0 it is
// deterministic, with eta = 1 it matches ancestral sampling's variance.
type DDIM struct {
	Steps int
	Eta   float64
}

// Plan implements plugins.Sampler.
func (d DDIM) Plan(p *diffusion.Process) (*diffusion.Process, []int, error) {
	return Ancestral{Steps: d.Steps}.Plan(p)
}

// Step implements plugins.Sampler:
// x' = sqrt(alpha_bar_prev) x0 + sqrt(1 - alpha_bar_prev - sigma^2) eps + sigma z, with
// sigma = eta sqrt((1 - alpha_bar_prev)/(1 - alpha_bar)) sqrt(1 - alpha_bar/alpha_bar_prev).
func (d DDIM) Step(p *diffusion.Process, pred plugins.Predictor, out, x, t, noise *Node, clip bool) *Node {
	g, r := x.Graph(), x.Rank()
	meanOut, varOut := pred.Split(out)
	_, _, x0 := pred.Reverse(p, meanOut, varOut, x, t, clip)
	eps := p.EpsFromX0(x, t, x0)
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
	return Add(mean, Mul(nonZeroMask(t, r), Mul(diffusion.Extract(g, sigma, t, r), noise)))
}

func init() {
	steps := func(def int, doc string) plugins.Param {
		return plugins.Param{Name: "steps", Type: plugins.Int, Default: def, Min: plugins.Bound(0), Doc: doc}
	}
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSampler, Name: "ancestral",
		Doc: "all T steps of p(x_{t-1}|x_t) (DDPM's Algorithm 2)",
		New: func(plugins.Values) (plugins.Sampler, error) { return Ancestral{}, nil },
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSampler, Name: "respaced",
		Params: []plugins.Param{steps(100, "number of evenly spaced steps (betas recomputed for the shorter chain)")},
		Doc:    "ancestral sampling on K evenly spaced steps (Improved DDPM)",
		New:    func(v plugins.Values) (plugins.Sampler, error) { return Ancestral{Steps: v.Int("steps")}, nil },
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSampler, Name: "ddim",
		Params: []plugins.Param{
			steps(50, "number of evenly spaced steps (0: all T)"),
			{Name: "eta", Type: plugins.Float, Default: 0.0, Min: plugins.Bound(0), Max: plugins.Bound(1),
				Doc: "0 is deterministic DDIM, 1 has the variance of ancestral sampling"},
		},
		Doc: "DDIM (Song et al. 2021) on K evenly spaced steps",
		New: func(v plugins.Values) (plugins.Sampler, error) {
			return DDIM{Steps: v.Int("steps"), Eta: v.Float("eta")}, nil
		},
	})
}
