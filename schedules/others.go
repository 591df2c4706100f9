package schedules

import (
	"math"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Quadratic spaces sqrt(beta) linearly: beta_t = (linspace(sqrt(beta_start), sqrt(beta_end)))^2,
// as hojonathanho/diffusion's "quad" schedule.
type Quadratic struct{ BetaStart, BetaEnd float64 }

// Betas implements plugins.Schedule.
func (s Quadratic) Betas(T int) ([]float64, error) {
	if err := checkT("quadratic", T); err != nil {
		return nil, err
	}
	b := linspace(math.Sqrt(s.BetaStart), math.Sqrt(s.BetaEnd), T)
	for i := range b {
		b[i] *= b[i]
	}
	return checkBetas("quadratic", b, "beta_start", "beta_end")
}

// Sigmoid places betas on a logistic curve: beta_t = sigmoid(linspace(-6, 6)) *
// (beta_end - beta_start) + beta_start.
type Sigmoid struct{ BetaStart, BetaEnd float64 }

// Betas implements plugins.Schedule.
func (s Sigmoid) Betas(T int) ([]float64, error) {
	if err := checkT("sigmoid", T); err != nil {
		return nil, err
	}
	b := linspace(-6, 6, T)
	for i, x := range b {
		b[i] = 1/(1+math.Exp(-x))*(s.BetaEnd-s.BetaStart) + s.BetaStart
	}
	return checkBetas("sigmoid", b, "beta_start", "beta_end")
}

// Const uses the same beta at every step.
type Const struct{ Beta float64 }

// Betas implements plugins.Schedule.
func (s Const) Betas(T int) ([]float64, error) {
	if err := checkT("const", T); err != nil {
		return nil, err
	}
	b := make([]float64, T)
	for i := range b {
		b[i] = s.Beta
	}
	return checkBetas("const", b, "beta")
}

// JSD is the schedule 1/T, 1/(T-1), ..., 1 of Sohl-Dickstein et al. (2015): the last step
// destroys all signal.
type JSD struct{}

// Betas implements plugins.Schedule.
func (JSD) Betas(T int) ([]float64, error) {
	if err := checkT("jsd", T); err != nil {
		return nil, err
	}
	b := make([]float64, T)
	for i := range b {
		b[i] = 1 / float64(T-i)
	}
	return checkBetas("jsd", b)
}

// Warmup rises linearly from beta_start to beta_end over the first fraction of the steps and
// stays at beta_end after that (hojonathanho/diffusion's warmupXX schedules).
type Warmup struct{ BetaStart, BetaEnd, Fraction float64 }

// Betas implements plugins.Schedule.
func (s Warmup) Betas(T int) ([]float64, error) {
	if err := checkT("warmup", T); err != nil {
		return nil, err
	}
	b := make([]float64, T)
	for i := range b {
		b[i] = s.BetaEnd
	}
	n := int(float64(T) * s.Fraction)
	copy(b, linspace(s.BetaStart, s.BetaEnd, n))
	return checkBetas("warmup", b, "beta_start", "beta_end", "fraction")
}

func betaParam(name string, def float64, doc string) plugins.Param {
	return plugins.Param{Name: name, Type: plugins.Float, Default: def, Min: plugins.Bound(0), Max: plugins.Bound(1),
		ExclusiveMin: true, Doc: doc}
}

func init() {
	startEnd := []plugins.Param{betaParam("beta_start", 1e-4, "first beta"), betaParam("beta_end", 0.02, "last beta")}
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "quadratic", Params: startEnd,
		Doc: "sqrt(beta) linear from sqrt(beta_start) to sqrt(beta_end)",
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return Quadratic{BetaStart: v.Float("beta_start"), BetaEnd: v.Float("beta_end")}, nil
		},
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "sigmoid", Params: startEnd,
		Doc: "betas on a logistic curve over [-6, 6] between beta_start and beta_end",
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return Sigmoid{BetaStart: v.Float("beta_start"), BetaEnd: v.Float("beta_end")}, nil
		},
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "const",
		Params: []plugins.Param{betaParam("beta", 0.02, "the beta of every step")},
		Doc:    "the same beta at every step",
		New:    func(v plugins.Values) (plugins.Schedule, error) { return Const{Beta: v.Float("beta")}, nil },
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "jsd",
		Doc: "1/T, 1/(T-1), ..., 1 (Sohl-Dickstein et al. 2015)",
		New: func(plugins.Values) (plugins.Schedule, error) { return JSD{}, nil },
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindSchedule, Name: "warmup",
		Params: append(append([]plugins.Param{}, startEnd...), plugins.Param{
			Name: "fraction", Type: plugins.Float, Default: 0.1, Min: plugins.Bound(0), Max: plugins.Bound(1),
			ExclusiveMin: true, Doc: "share of the steps over which beta rises to beta_end"}),
		Doc: "linear from beta_start to beta_end over a fraction of the steps, then constant",
		New: func(v plugins.Values) (plugins.Schedule, error) {
			return Warmup{BetaStart: v.Float("beta_start"), BetaEnd: v.Float("beta_end"), Fraction: v.Float("fraction")}, nil
		},
	})
}
