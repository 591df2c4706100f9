// Package geometric is the worked example of a plugin written outside ddpm-runner's own
// families: a beta schedule whose betas grow geometrically from beta_start to beta_end.
//
// To use it, blank-import it in a runner's main beside plugins/builtin (see
// examples/ownrunner; in-tree, it would be one more line in plugins/builtin):
//
//	_ "github.com/ddpm-runner/ddpm-runner/examples/geometric"
//
// and name it in a spec:
//
//	[schedule]
//	name = "geometric"
//	T = 200
//	beta_start = 1e-4
//	beta_end = 0.05
package geometric

import (
	"fmt"
	"math"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Schedule spaces log(beta) evenly: beta_t = beta_start (beta_end/beta_start)^(t/(T-1)).
type Schedule struct{ BetaStart, BetaEnd float64 }

// Betas implements plugins.Schedule.
func (s Schedule) Betas(T int) ([]float64, error) {
	if T < 1 {
		return nil, fmt.Errorf("geometric: T = %d, want T >= 1", T)
	}
	betas := make([]float64, T)
	for i := range betas {
		frac := 0.0
		if T > 1 {
			frac = float64(i) / float64(T-1)
		}
		betas[i] = s.BetaStart * math.Pow(s.BetaEnd/s.BetaStart, frac)
	}
	return betas, nil
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule,
		Name: "geometric",
		Doc:  "betas evenly spaced in log from beta_start to beta_end (an example plugin)",
		Params: []plugins.Param{
			{Name: "beta_start", Type: plugins.Float, Default: 1e-4, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "first beta"},
			{Name: "beta_end", Type: plugins.Float, Default: 0.02, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "last beta"},
		},
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return Schedule{BetaStart: v.Float("beta_start"), BetaEnd: v.Float("beta_end")}, nil
		},
	})
}
