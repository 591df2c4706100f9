package samplers

import (
	"math"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
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
