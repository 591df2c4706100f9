package schedules

import "github.com/ddpm-runner/ddpm-runner/plugins"

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
	return checkBetas("linear", linspace(scale*s.BetaStart, scale*s.BetaEnd, T))
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
