package losses

import (
	"math"
	"strings"
	"testing"
)

// TestMinSNRWeights checks the weights against the paper's formulas worked by hand at SNR
// 1, 99 and 1/99 (alpha_bar 0.5, 0.99, 0.01) with gamma 5.
func TestMinSNRWeights(t *testing.T) {
	ab := []float64{0.5, 0.99, 0.01}
	for target, want := range map[string][]float64{
		"eps": {1, 5.0 / 99, 1},
		"x0":  {1, 5, 1.0 / 99},
		"v":   {0.5, 5.0 / 100, 0.01},
	} {
		got, err := MinSNRWeights(ab, target, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("%s at alpha_bar %g: weight %g, want %g", target, ab[i], got[i], want[i])
			}
		}
	}
	if _, err := MinSNRWeights(ab, "mu", 5); err == nil || !strings.Contains(err.Error(), `not "mu"`) {
		t.Errorf("mu target: %v", err)
	}
}
