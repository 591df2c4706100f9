package losses

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations

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
// whose MSE is small and easy, do not dominate; expressed for each target, the weight is
// min(SNR, gamma) / SNR for eps, min(SNR, gamma) for x0, and min(SNR, gamma) / (SNR + 1)
// for v (the paper's equations for the three parametrisations).
type Weighting struct {
	Kind  string
	Gamma float64
}

// MinSNRWeights is the Min-SNR-gamma weight of each timestep for a target, in float64.
func MinSNRWeights(alphaBar []float64, target string, gamma float64) ([]float64, error) {
	w := make([]float64, len(alphaBar))
	for t, ab := range alphaBar {
		snr := ab / (1 - ab)
		clamped := math.Min(snr, gamma)
		switch target {
		case "eps":
			w[t] = clamped / snr
		case "x0":
			w[t] = clamped
		case "v":
			w[t] = clamped / (snr + 1)
		default:
			return nil, fmt.Errorf("min_snr weighting is defined for eps, x0 and v targets, not %q", target)
		}
	}
	return w, nil
}

// apply weights the per-example MSE of the loss input.
func (w Weighting) apply(in plugins.LossInput, mse *Node) *Node {
	if w.Kind != WeightingMinSNR {
		return mse
	}
	weights, err := MinSNRWeights(in.Process.AlphaBar, targetOf(in.Predictor), w.Gamma)
	if err != nil {
		panic(err) // CheckPredictor refused this before the run
	}
	return Mul(mse, diffusion.Extract(mse.Graph(), weights, in.T, mse.Rank()))
}

// check refuses a predictor whose target the weighting has no formula for.
func (w Weighting) check(p plugins.Predictor) error {
	if w.Kind != WeightingMinSNR {
		return nil
	}
	_, err := MinSNRWeights([]float64{0.5}, targetOf(p), w.Gamma)
	return err
}

func targetOf(p plugins.Predictor) string {
	if n, ok := p.(plugins.TargetNamer); ok {
		return n.TargetName()
	}
	return ""
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
