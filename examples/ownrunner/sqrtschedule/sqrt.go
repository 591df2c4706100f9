// Package sqrtschedule is a beta schedule from outside ddpm-runner: Diffusion-LM's square-root
// schedule (Li et al. 2022), alpha_bar(t) = 1 - sqrt(t/T + s). It registers itself in init,
// so a runner that blank-imports it can name it in a spec:
//
//	[schedule]
//	name = "sqrt"
//	s = 1e-4
package sqrtschedule

import (
	"fmt"
	"math"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Schedule is the square-root schedule with offset S; betas are capped at MaxBeta.
type Schedule struct{ S, MaxBeta float64 }

// alphaBar is 1 - sqrt(u + s) at the fraction u of the chain.
func (sc Schedule) alphaBar(u float64) float64 { return 1 - math.Sqrt(u+sc.S) }

// Betas implements plugins.Schedule: beta_t = 1 - alpha_bar(t/T) / alpha_bar((t-1)/T).
func (sc Schedule) Betas(T int) ([]float64, error) {
	if sc.S < 0 || sc.S >= 1 {
		return nil, fmt.Errorf("sqrt: s = %g leaves no signal at t = 0 (want s < 1)", sc.S)
	}
	betas := make([]float64, T)
	for i := range betas {
		prev, cur := sc.alphaBar(float64(i)/float64(T)), sc.alphaBar(float64(i+1)/float64(T))
		betas[i] = math.Min(1-cur/prev, sc.MaxBeta)
	}
	return betas, nil
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule,
		Name: "sqrt",
		Doc:  "Diffusion-LM: alpha_bar(t) = 1 - sqrt(t/T + s), betas capped at max_beta (a plugin from another module)",
		Params: []plugins.Param{
			{Name: "s", Type: plugins.Float, Default: 1e-4, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMax: true, Doc: "offset that keeps beta_1 above 0"},
			{Name: "max_beta", Type: plugins.Float, Default: 0.999, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "cap on every beta"},
		},
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return Schedule{S: v.Float("s"), MaxBeta: v.Float("max_beta")}, nil
		},
	})
}
