package schedules

import (
	"math"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Cosine is Improved DDPM's schedule: alpha_bar(t) = f(t)/f(0) with
// f(t) = cos(((t/T + s) / (1 + s)) * pi/2)^2, and beta_t = 1 - alpha_bar(t)/alpha_bar(t-1)
// clipped at MaxBeta to avoid the singularity at t = T.
type Cosine struct{ S, MaxBeta float64 }

// Betas implements plugins.Schedule.
func (s Cosine) Betas(T int) ([]float64, error) {
	if err := checkT("cosine", T); err != nil {
		return nil, err
	}
	f := func(t float64) float64 {
		c := libmCos((t + s.S) / (1 + s.S) * math.Pi / 2)
		return c * c
	}
	betas := make([]float64, T)
	for i := range betas {
		t1, t2 := float64(i)/float64(T), float64(i+1)/float64(T)
		betas[i] = math.Min(1-f(t2)/f(t1), s.MaxBeta)
	}
	return checkBetas("cosine", betas, "s", "max_beta")
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "cosine",
		Doc: "Improved DDPM: alpha_bar follows a squared cosine; betas clipped at max_beta",
		Params: []plugins.Param{
			{Name: "s", Type: plugins.Float, Default: 0.008, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "offset that keeps beta_1 from being too small"},
			{Name: "max_beta", Type: plugins.Float, Default: 0.999, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMin: true, Doc: "upper clip of every beta"},
		},
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return Cosine{S: v.Float("s"), MaxBeta: v.Float("max_beta")}, nil
		},
	})
}
