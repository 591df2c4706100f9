package schedules_test

import (
	"fmt"
	"math"
	"strings"
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

// bounds gives the values a parameter's declaration allows at its ends (moved inward by one
// float where a bound is exclusive) and its default.
func bounds(d plugins.Param) []float64 {
	vals := []float64{d.Default.(float64)}
	if d.Min != nil {
		v := *d.Min
		if d.ExclusiveMin {
			v = math.Nextafter(v, math.Inf(1))
		}
		vals = append(vals, v)
	}
	if d.Max != nil {
		v := *d.Max
		if d.ExclusiveMax {
			v = math.Nextafter(v, math.Inf(-1))
		}
		vals = append(vals, v)
	}
	return vals
}

// Every registered schedule, at every T from 1 to 20 and with each of its parameters at its
// declared bounds (every combination of bounds and defaults), gives betas in (0, 1] that
// diffusion.NewProcess takes, or an error that names the key to change.
func TestEveryScheduleAtEveryBoundGivesBetasOrNamesAKey(t *testing.T) {
	for _, name := range plugins.Names(plugins.KindSchedule) {
		p, err := plugins.Lookup(plugins.KindSchedule, name)
		if err != nil {
			t.Fatal(err)
		}
		// The combinations of every parameter's bounds and default.
		combos := []map[string]any{{}}
		for _, d := range p.Params {
			if d.Type != plugins.Float {
				t.Fatalf("%s: parameter %q is a %s; extend the walk", name, d.Name, d.Type)
			}
			var next []map[string]any
			for _, c := range combos {
				for _, v := range bounds(d) {
					m := map[string]any{d.Name: v}
					for k, x := range c {
						m[k] = x
					}
					next = append(next, m)
				}
			}
			combos = next
		}
		errs := 0
		for _, raw := range combos {
			s, err := plugins.Build(plugins.KindSchedule, name, raw)
			if err != nil {
				t.Fatalf("%s %v: %v", name, raw, err)
			}
			for T := 1; T <= 20; T++ {
				betas, err := s.(plugins.Schedule).Betas(T)
				if err != nil {
					errs++
					if !namesAKey(err.Error(), p.Params) {
						t.Errorf("%s %v T=%d: error names no key: %v", name, raw, T, err)
					}
					continue
				}
				if len(betas) != T {
					t.Errorf("%s %v T=%d: %d betas", name, raw, T, len(betas))
				}
				for i, b := range betas {
					if !(b > 0 && b <= 1) {
						t.Errorf("%s %v T=%d: beta_%d = %v", name, raw, T, i+1, b)
					}
				}
				if _, err := diffusion.NewProcess(betas); err != nil {
					t.Errorf("%s %v T=%d: %v", name, raw, T, err)
				}
			}
		}
		t.Logf("%s: %d combinations x 20 T, %d refused", name, len(combos), errs)
	}
}

// namesAKey reports whether msg quotes T or one of params.
func namesAKey(msg string, params []plugins.Param) bool {
	if strings.Contains(msg, `"T"`) {
		return true
	}
	for _, d := range params {
		if strings.Contains(msg, fmt.Sprintf("%q", d.Name)) {
			return true
		}
	}
	return false
}

// The linear schedule at a T too small for its betas (scaled by 1000/T past 1) is refused
// naming T and the smallest T that works, which gives betas; warmup at T < 10 (no step of
// warm-up) gives beta_end throughout, as hojonathanho/diffusion's numpy code does.
func TestSmallTSchedules(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  map[string]any
		T    int
		want string // error; "" for betas
	}{
		{"linear", nil, 19, `key "T" = 19 is too small for beta_end = 0.02: the betas are scaled by 1000/T, which gives a beta of 1.05263`},
		{"linear", nil, 1, `T must be at least 20 (or lower "beta_end")`},
		{"linear", nil, 20, ""},
		{"linear", map[string]any{"beta_start": 0.5, "beta_end": 0.01}, 400, `key "T" = 400 is too small for beta_start = 0.5`},
		{"linear", map[string]any{"beta_start": 0.5, "beta_end": 0.01}, 499, "T must be at least 500"},
		{"linear", map[string]any{"beta_end": 0.999999}, 999, "T must be at least 1000"},
		{"warmup", nil, 5, ""},
		{"warmup", nil, 1, ""},
	} {
		s, err := plugins.Build(plugins.KindSchedule, tc.name, tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		betas, err := s.(plugins.Schedule).Betas(tc.T)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %v T=%d: %v, want an error saying %q", tc.name, tc.raw, tc.T, err, tc.want)
			}
			continue
		}
		if err != nil || len(betas) != tc.T {
			t.Errorf("%s %v T=%d: %v %v", tc.name, tc.raw, tc.T, betas, err)
		}
		if tc.name == "warmup" {
			for _, b := range betas {
				if b != 0.02 {
					t.Errorf("warmup T=%d: %v, want beta_end throughout", tc.T, betas)
				}
			}
		}
	}
}
