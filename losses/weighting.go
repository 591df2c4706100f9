package losses

import (
	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// MSE weightings.
const (
	WeightingNone   = "none"    // every timestep's MSE counts as it is (DDPM's L_simple)
	WeightingMinSNR = "min_snr" // Min-SNR-gamma (Hang et al. 2023)
)

// Weighting weights the per-example MSE by its timestep. Min-SNR-gamma clamps the signal-to-
// noise ratio SNR_t = alpha_bar_t / (1 - alpha_bar_t) at gamma, so that the low-noise steps,
// whose MSE is small and easy, do not dominate; each mean parameterisation has its weight
// (diffusion.MeanType.MinSNRWeight).
type Weighting struct {
	Kind  string
	Gamma float64
}

// weights are the per-step weights of the MSE on d's chain, nil for none.
func (w Weighting) weights(d *diffusion.Diffusion) []float64 {
	if w.Kind != WeightingMinSNR {
		return nil
	}
	weights, err := d.Mean.MinSNRWeights(d.AlphaBar, w.Gamma)
	if err != nil {
		panic(err) // CheckPredictor refused this before the run
	}
	return weights
}

// check refuses a predictor whose target the weighting has no formula for.
func (w Weighting) check(p plugins.Predictor) error {
	if w.Kind != WeightingMinSNR {
		return nil
	}
	_, err := p.Parameterization().Mean.MinSNRWeights([]float64{0.5}, w.Gamma)
	return err
}

// weightingParams are the parameters of the losses that have an MSE term.
var weightingParams = []plugins.Param{
	{Name: "weighting", Type: plugins.String, Default: WeightingNone, Choices: []string{WeightingNone, WeightingMinSNR},
		Doc: "per-timestep weight of the MSE: none, or min_snr (Min-SNR-gamma, Hang et al. 2023; eps, x0 or v targets)"},
	{Name: "gamma", Type: plugins.Float, Default: 5.0, Min: plugins.Bound(0), ExclusiveMin: true,
		Doc: "the SNR at which min_snr clamps (the paper's 5)"},
}

func weightingOf(v plugins.Values) Weighting {
	return Weighting{Kind: v.String("weighting"), Gamma: v.Float("gamma")}
}
