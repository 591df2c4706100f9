package predictors

import (
	"testing"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// TestTableBuildsParameterizations: each registered predictor builds diffusion's
// parameterisation of its name with the variance its parameter names, fixed_large by default.
func TestTableBuildsParameterizations(t *testing.T) {
	for _, mean := range []string{"eps", "x0", "mu", "v"} {
		for _, variance := range []string{"", "fixed_small", "fixed_large", "learned", "learned_range"} {
			raw := map[string]any{}
			want := "fixed_large"
			if variance != "" {
				raw["variance"], want = variance, variance
			}
			v, err := plugins.Build(plugins.KindPredictor, mean, raw)
			if err != nil {
				t.Fatalf("%s, variance %q: %v", mean, variance, err)
			}
			p := v.(plugins.Predictor).Parameterization()
			if p.Mean.Name != mean || p.Variance.Name != want {
				t.Errorf("%s, variance %q: built %s with %s", mean, variance, p.Mean.Name, p.Variance.Name)
			}
			learned := want == "learned" || want == "learned_range"
			if p.LearnsVariance() != learned || p.OutputMultiplier() != map[bool]int{false: 1, true: 2}[learned] {
				t.Errorf("%s with %s: learns variance %v, output multiplier %d", mean, want, p.LearnsVariance(), p.OutputMultiplier())
			}
		}
	}
	if _, err := plugins.Build(plugins.KindPredictor, "eps", map[string]any{"variance": "large"}); err == nil {
		t.Error("variance \"large\" was accepted")
	}
	if got := len(diffusion.Means); got != len(table) {
		t.Errorf("%d mean parameterisations, %d predictors", got, len(table))
	}
}
