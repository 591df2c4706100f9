package schedules

import (
	"fmt"
	"math"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Linear is DDPM's schedule: betas evenly spaced from BetaStart to BetaEnd. Like Improved
// DDPM's get_named_beta_schedule, both ends are scaled by 1000/T, so that a chain of another
// length keeps the shape of the 1000-step one (and T = 1000 gives the paper's numbers).
type Linear struct{ BetaStart, BetaEnd float64 }

// Betas implements plugins.Schedule.
func (s Linear) Betas(T int) ([]float64, error) {
	if err := checkT("linear", T); err != nil {
		return nil, err
	}
	scale := 1000 / float64(T)
	if hi := math.Max(s.BetaStart, s.BetaEnd); scale*hi > 1 {
		key := "beta_end"
		if s.BetaStart > s.BetaEnd {
			key = "beta_start"
		}
		// The smallest T whose scaled betas stay at most 1, by the same arithmetic.
		least := max(T+1, int(1000*hi)-1)
		for 1000/float64(least)*hi > 1 {
			least++
		}
		return nil, fmt.Errorf("schedule linear: key \"T\" = %d is too small for %s = %g: the betas are scaled by 1000/T, "+
			"which gives a beta of %g, above 1; T must be at least %d (or lower %q)", T, key, hi, scale*hi, least, key)
	}
	return checkBetas("linear", linspace(scale*s.BetaStart, scale*s.BetaEnd, T), "beta_start", "beta_end")
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "linear",
		Doc: "DDPM: betas linear from beta_start to beta_end, both scaled by 1000/T",
		Params: []plugins.Param{
			{Name: "beta_start", Type: plugins.Float, Default: 1e-4, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, ExclusiveMax: true, Doc: "beta_1 at T = 1000"},
			{Name: "beta_end", Type: plugins.Float, Default: 0.02, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, ExclusiveMax: true, Doc: "beta_T at T = 1000"},
		},
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return Linear{BetaStart: v.Float("beta_start"), BetaEnd: v.Float("beta_end")}, nil
		},
	})
}
