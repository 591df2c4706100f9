package diffusion_test

import (
	"math"
	"strings"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
)

// TestMinSNRWeights checks the weights against the paper's formulas worked by hand at SNR
// 1, 99 and 1/99 (alpha_bar 0.5, 0.99, 0.01) with gamma 5.
func TestMinSNRWeights(t *testing.T) {
	ab := []float64{0.5, 0.99, 0.01}
	for _, c := range []struct {
		mean diffusion.MeanType
		want []float64
	}{
		{diffusion.MeanEps, []float64{1, 5.0 / 99, 1}},
		{diffusion.MeanX0, []float64{1, 5, 1.0 / 99}},
		{diffusion.MeanV, []float64{0.5, 5.0 / 100, 0.01}},
	} {
		got, err := c.mean.MinSNRWeights(ab, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.want {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Errorf("%s at alpha_bar %g: weight %g, want %g", c.mean.Name, ab[i], got[i], c.want[i])
			}
		}
	}
	_, err := diffusion.MeanMu.MinSNRWeights(ab, 5)
	if err == nil || err.Error() != `min_snr weighting is defined for eps, x0 and v targets, not "mu"` {
		t.Errorf("mu target: %v", err)
	}
	if err != nil && !strings.Contains(err.Error(), `not "mu"`) {
		t.Errorf("mu target: %v", err)
	}
}
