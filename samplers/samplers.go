// Package samplers holds the sampler plugins: ancestral (every step of p(x_{t-1}|x_t)),
// respaced (K spaced steps, betas recomputed for the shorter chain as Improved DDPM does),
// ddim (Song et al. 2021, with its eta), and the ODE solvers euler and heun (Karras et al.
// 2022) and dpmpp_2m (DPM-Solver++(2M), Lu et al. 2022). Every sampler but ancestral takes
// a number of steps and a spacing (linspace, leading, trailing, ddim: see Timesteps).
package samplers

import (
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

func init() {
	steps := func(def int, doc string) plugins.Param {
		return plugins.Param{Name: "steps", Type: plugins.Int, Default: def, Min: plugins.Bound(0), Doc: doc}
	}
	spacing := plugins.Param{Name: "spacing", Type: plugins.String, Default: SpacingLinspace, Choices: Spacings,
		Doc: "which timesteps: linspace (even, first and last included, as improved-diffusion), leading (0, T/k, ...), trailing (T-1 down in strides of T/k), ddim (improved-diffusion's ddimK: the smallest integer stride giving k steps)"}
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSampler, Name: "ancestral",
		Doc: "all T steps of p(x_{t-1}|x_t) (DDPM's Algorithm 2)",
		New: func(plugins.Values) (plugins.Sampler, error) { return Ancestral{}, nil },
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSampler, Name: "respaced",
		Params: []plugins.Param{steps(100, "number of spaced steps (betas recomputed for the shorter chain)"), spacing},
		Doc:    "ancestral sampling on K spaced steps (Improved DDPM)",
		New: func(v plugins.Values) (plugins.Sampler, error) {
			return Ancestral{Spaced{v.Int("steps"), v.String("spacing")}}, nil
		},
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSampler, Name: "ddim",
		Params: []plugins.Param{
			steps(50, "number of spaced steps (0: all T)"),
			{Name: "eta", Type: plugins.Float, Default: 0.0, Min: plugins.Bound(0), Max: plugins.Bound(1),
				Doc: "0 is deterministic DDIM, 1 has the variance of ancestral sampling"},
			spacing,
		},
		Doc: "DDIM (Song et al. 2021) on K spaced steps",
		New: func(v plugins.Values) (plugins.Sampler, error) {
			return DDIM{Spaced: Spaced{v.Int("steps"), v.String("spacing")}, Eta: v.Float("eta")}, nil
		},
	})
	ode := func(name, doc string, make func(Spaced) plugins.Sampler) {
		plugins.Register(plugins.Plugin{
			Kind: plugins.KindSampler, Name: name, Doc: doc,
			Params: []plugins.Param{steps(20, "number of spaced steps (0: all T)"), spacing},
			New: func(v plugins.Values) (plugins.Sampler, error) {
				return make(Spaced{v.Int("steps"), v.String("spacing")}), nil
			},
		})
	}
	ode("euler", "Euler's method on the probability-flow ODE (Karras et al. 2022); 1 NFE per step",
		func(s Spaced) plugins.Sampler { return Euler{s} })
	ode("heun", "Heun's second-order method on the probability-flow ODE (Karras et al. 2022); 2K-1 NFE",
		func(s Spaced) plugins.Sampler { return Heun{s} })
	ode("dpmpp_2m", "DPM-Solver++(2M) (Lu et al. 2022), second-order multistep on x0-hat; 1 NFE per step",
		func(s Spaced) plugins.Sampler { return DPMSolver2M{s} })
}
