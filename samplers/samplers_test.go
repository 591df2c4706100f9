package samplers

import (
	"math"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

func TestSpacedTimesteps(t *testing.T) {
	got, err := SpacedTimesteps(1000, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 250, 500, 749, 999}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v (stride 999/4 rounded, first and last included)", got, want)
		}
	}
	if _, err := SpacedTimesteps(10, 11); err == nil {
		t.Error("11 steps out of 10 accepted")
	}
}

// TestRespaceKeepsAlphaBar: the respaced chain has the original alpha_bar at every visited
// step, so q(x_t | x_0) is unchanged where the network is queried.
func TestRespaceKeepsAlphaBar(t *testing.T) {
	betas := make([]float64, 100)
	for i := range betas {
		betas[i] = 1e-3 + (0.2-1e-3)*float64(i)/99
	}
	p, _ := diffusion.NewProcess(betas)
	ts, _ := SpacedTimesteps(100, 10)
	q, err := Respace(p, ts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range ts {
		if math.Abs(q.AlphaBar[i]-p.AlphaBar[tt]) > 1e-14 {
			t.Errorf("step %d (t=%d): alpha_bar %g, original %g", i, tt, q.AlphaBar[i], p.AlphaBar[tt])
		}
	}
	// A respaced chain over every step is the original.
	all, steps, _ := Ancestral{}.Plan(p)
	if all != p || len(steps) != 100 || steps[99] != 99 {
		t.Error("ancestral with all steps should run the original process")
	}
}

// TestTimestepsBySpacing checks every spacing against lists computed by hand (and, for
// trailing, against numpy's np.round(np.arange(T, 0, -T/k)) - 1, which rounds ties to even).
func TestTimestepsBySpacing(t *testing.T) {
	cases := []struct {
		T, k    int
		spacing string
		want    []int
	}{
		{1000, 5, SpacingLinspace, []int{0, 250, 500, 749, 999}},
		{1000, 1, SpacingLinspace, []int{999}},
		{10, 10, SpacingLinspace, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{11, 5, SpacingLinspace, []int{0, 2, 5, 8, 10}}, // 2.5 and 7.5 round half to even, as Python's round
		{1000, 10, SpacingLeading, []int{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}},
		{1000, 1, SpacingLeading, []int{0}},
		{250, 100, SpacingLeading, nil}, // checked below: 0, 2, ..., 198
		{1000, 10, SpacingTrailing, []int{99, 199, 299, 399, 499, 599, 699, 799, 899, 999}},
		{1000, 3, SpacingTrailing, []int{332, 666, 999}}, // 1000/3 in floats would add a 4th step
		{1000, 1, SpacingTrailing, []int{999}},
		{10, 4, SpacingTrailing, []int{1, 4, 7, 9}}, // 10, 7.5, 5, 2.5 -> 10, 8, 5, 2 (ties to even), minus 1
		{250, 100, SpacingTrailing, nil},            // checked below: starts 1, 4, 7, 9, 11, 14
		{10, 10, SpacingTrailing, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}
	for _, c := range cases {
		got, err := Timesteps(c.T, c.k, c.spacing)
		if err != nil {
			t.Fatalf("%s T=%d k=%d: %v", c.spacing, c.T, c.k, err)
		}
		if len(got) != c.k {
			t.Fatalf("%s T=%d k=%d: %d steps %v", c.spacing, c.T, c.k, len(got), got)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] || got[0] < 0 || got[len(got)-1] > c.T-1 {
				t.Fatalf("%s T=%d k=%d: %v is not increasing within 0..T-1", c.spacing, c.T, c.k, got)
			}
		}
		if c.want != nil && !slices.Equal(got, c.want) {
			t.Errorf("%s T=%d k=%d: %v, want %v", c.spacing, c.T, c.k, got, c.want)
		}
	}
	lead, _ := Timesteps(250, 100, SpacingLeading)
	if lead[0] != 0 || lead[1] != 2 || lead[99] != 198 {
		t.Errorf("leading 100 of 250: %v..., last %d; want 0, 2, ..., 198", lead[:3], lead[99])
	}
	trail, _ := Timesteps(250, 100, SpacingTrailing)
	if !slices.Equal(trail[:6], []int{1, 4, 7, 9, 11, 14}) || trail[99] != 249 {
		t.Errorf("trailing 100 of 250: %v..., last %d; want 1, 4, 7, 9, 11, 14, ..., 249", trail[:6], trail[99])
	}
	for _, bad := range []struct {
		T, k    int
		spacing string
	}{{10, 11, SpacingLinspace}, {10, 0, SpacingLeading}, {10, 11, SpacingTrailing}, {10, 3, "karras"},
		{250, 100, SpacingDDIM}, {1000, 1, SpacingDDIM}} {
		if _, err := Timesteps(bad.T, bad.k, bad.spacing); err == nil {
			t.Errorf("Timesteps(%d, %d, %q) accepted", bad.T, bad.k, bad.spacing)
		}
	}
}

// Every sampler plans with its spacing; with all T steps every spacing runs the original chain.
func TestSamplersPlanWithTheirSpacing(t *testing.T) {
	p := linearProcess(t)
	for _, s := range []plugins.Sampler{Ancestral{Spaced{10, SpacingTrailing}}, DDIM{Spaced: Spaced{10, SpacingTrailing}},
		Euler{Spaced{10, SpacingTrailing}}, Heun{Spaced{10, SpacingTrailing}}, DPMSolver2M{Spaced{10, SpacingTrailing}}} {
		_, ts, err := s.Plan(p)
		if err != nil || !slices.Equal(ts, []int{99, 199, 299, 399, 499, 599, 699, 799, 899, 999}) {
			t.Errorf("%T: %v, %v", s, ts, err)
		}
	}
	for _, spacing := range Spacings {
		q, ts, err := DDIM{Spaced: Spaced{1000, spacing}}.Plan(p)
		if err != nil || q != p || len(ts) != 1000 || ts[999] != 999 {
			t.Errorf("%s with all steps: the original process %v, %d steps, %v", spacing, q == p, len(ts), err)
		}
	}
}
