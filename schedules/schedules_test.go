package schedules_test

import (
	"math"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	_ "github.com/ddpm-runner/ddpm-runner/schedules"
)

// refLinear and refCosine follow improved-diffusion's get_named_beta_schedule, written
// independently here in float64.
func refLinear(T int) []float64 {
	scale := 1000.0 / float64(T)
	lo, hi := scale*0.0001, scale*0.02
	out := make([]float64, T)
	for i := range out {
		out[i] = lo + (hi-lo)*float64(i)/float64(T-1)
	}
	return out
}

// refCosine uses cos^2 a - cos^2 b = sin(b - a) sin(b + a), which avoids the cancellation in
// 1 - f(t)/f(t-1); it is more accurate than the reference implementation's own formula, so
// it is compared at 1e-9 (the numpy golden files in cli/testdata pin the exact numbers
// at 1e-12).
func refCosine(T int) []float64 {
	angle := func(t float64) float64 { return (t + 0.008) / 1.008 * math.Pi / 2 }
	out := make([]float64, T)
	for i := range out {
		a, b := angle(float64(i)/float64(T)), angle(float64(i+1)/float64(T))
		out[i] = math.Min(math.Sin(b-a)*math.Sin(b+a)/math.Pow(math.Cos(a), 2), 0.999)
	}
	return out
}

// refColumns mirrors GaussianDiffusion.__init__: cumprod, append, and the posterior formulas.
func refColumns(betas []float64) map[string][]float64 {
	T := len(betas)
	c := map[string][]float64{}
	ab, abPrev := make([]float64, T), make([]float64, T)
	acc := 1.0
	for i, b := range betas {
		acc *= 1 - b
		ab[i] = acc
	}
	abPrev[0] = 1
	copy(abPrev[1:], ab[:T-1])
	pv, lv, c1, c2 := make([]float64, T), make([]float64, T), make([]float64, T), make([]float64, T)
	for i, b := range betas {
		pv[i] = b * (1 - abPrev[i]) / (1 - ab[i])
		c1[i] = b * math.Sqrt(abPrev[i]) / (1 - ab[i])
		c2[i] = (1 - abPrev[i]) * math.Sqrt(1-b) / (1 - ab[i])
	}
	for i := range lv {
		if i == 0 {
			lv[i] = math.Log(pv[1])
		} else {
			lv[i] = math.Log(pv[i])
		}
	}
	c["beta"], c["alpha_bar"], c["alpha_bar_prev"] = betas, ab, abPrev
	c["posterior_variance"], c["posterior_log_variance_clipped"] = pv, lv
	c["posterior_mean_coef1"], c["posterior_mean_coef2"] = c1, c2
	return c
}

func columns(p *diffusion.Process) map[string][]float64 {
	return map[string][]float64{
		"beta": p.Betas, "alpha_bar": p.AlphaBar, "alpha_bar_prev": p.AlphaBarPrev,
		"posterior_variance": p.PosteriorVariance, "posterior_log_variance_clipped": p.PosteriorLogVarianceClipped,
		"posterior_mean_coef1": p.PosteriorMeanCoef1, "posterior_mean_coef2": p.PosteriorMeanCoef2,
	}
}

func relErr(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

func build(t *testing.T, name string, T int, raw map[string]any) *diffusion.Process {
	t.Helper()
	s, err := plugins.Build(plugins.KindSchedule, name, raw)
	if err != nil {
		t.Fatal(err)
	}
	betas, err := s.(plugins.Schedule).Betas(T)
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.NewProcess(betas)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLinearAndCosineMatchImprovedDiffusion(t *testing.T) {
	for _, tc := range []struct {
		name string
		ref  func(int) []float64
		tol  float64
	}{{"linear", refLinear, 1e-12}, {"cosine", refCosine, 1e-9}} {
		for _, T := range []int{50, 1000, 4000} {
			got := columns(build(t, tc.name, T, nil))
			want := refColumns(tc.ref(T))
			for col, w := range want {
				g := got[col]
				if len(g) != T {
					t.Fatalf("%s T=%d %s: %d rows, want %d", tc.name, T, col, len(g), T)
				}
				for i := range w {
					if e := relErr(g[i], w[i]); e > tc.tol {
						t.Fatalf("%s T=%d %s[%d] = %.17g, want %.17g (rel err %.2g)", tc.name, T, col, i, g[i], w[i], e)
					}
				}
			}
		}
	}
}

func TestScheduleShapes(t *testing.T) {
	T := 10
	cases := []struct {
		name  string
		raw   map[string]any
		check func(b []float64) bool
		what  string
	}{
		{"jsd", nil, func(b []float64) bool { return b[0] == 1.0/10 && b[9] == 1 && b[8] == 0.5 }, "1/T ... 1/2, 1"},
		{"const", map[string]any{"beta": 0.3}, func(b []float64) bool { return b[0] == 0.3 && b[9] == 0.3 }, "all 0.3"},
		{"quadratic", nil, func(b []float64) bool {
			return relErr(b[0], 1e-4) < 1e-12 && relErr(b[9], 0.02) < 1e-12 && b[5]-b[4] > b[1]-b[0]
		}, "convex from 1e-4 to 0.02"},
		{"sigmoid", nil, func(b []float64) bool {
			return b[0] > 1e-4 && b[9] < 0.02 && relErr(b[4]+b[5], 1e-4+0.02) < 1e-12
		}, "symmetric logistic between the ends"},
		{"warmup", map[string]any{"fraction": 0.5}, func(b []float64) bool {
			return b[0] == 1e-4 && b[4] == 0.02 && b[9] == 0.02 && b[2] < b[3]
		}, "rises over 5 steps then flat"},
	}
	for _, tc := range cases {
		s, err := plugins.Build(plugins.KindSchedule, tc.name, tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.(plugins.Schedule).Betas(T)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.check(b) {
			t.Errorf("%s: betas %v, want %s", tc.name, b, tc.what)
		}
	}
}

func TestLinearScalesWithT(t *testing.T) {
	s, _ := plugins.Build(plugins.KindSchedule, "linear", nil)
	b, err := s.(plugins.Schedule).Betas(100)
	if err != nil || relErr(b[0], 1e-3) > 1e-12 || relErr(b[99], 0.2) > 1e-12 {
		t.Errorf("T=100: betas from %v to %v (%v), want 1e-3 to 0.2 (scaled by 1000/T)", b[0], b[99], err)
	}
	// At T = 10 the scaled beta_end is 2: the schedule must refuse it, naming the step.
	if b, err := s.(plugins.Schedule).Betas(10); err == nil {
		t.Errorf("T=10 gave %v, want an error", b)
	}
}

func TestAllSevenRegistered(t *testing.T) {
	names := plugins.Names(plugins.KindSchedule)
	for _, want := range []string{"linear", "cosine", "quadratic", "sigmoid", "const", "jsd", "warmup"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("schedule %q not registered (have %v)", want, names)
		}
	}
}
