package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Simple is L_simple (Ho et al. 2020), with Improved DDPM's variance term when the
// predictor learns one, and the MSE optionally weighted by timestep.
type Simple struct{ Weight Weighting }

// CheckPredictor implements plugins.PredictorChecker.
func (s Simple) CheckPredictor(p plugins.Predictor) error { return s.Weight.check(p) }

// Loss implements plugins.Loss.
func (s Simple) Loss(in plugins.LossInput) *Node {
	return in.Diffusion.SimpleLoss(in.Batch, s.Weight.weights(in.Diffusion))
}

// VLB is the true variational bound, T * L_t at the sampled t.
type VLB struct{}

// Loss implements plugins.Loss.
func (VLB) Loss(in plugins.LossInput) *Node { return in.Diffusion.VLBLoss(in.Batch) }

// Hybrid is L_simple + lambda L_vlb (Improved DDPM), where L_vlb = T * L_t trains only the
// variance; the MSE may be weighted by timestep.
type Hybrid struct {
	Lambda float64
	Weight Weighting
}

// CheckPredictor implements plugins.PredictorChecker.
func (h Hybrid) CheckPredictor(p plugins.Predictor) error { return h.Weight.check(p) }

// Loss implements plugins.Loss.
func (h Hybrid) Loss(in plugins.LossInput) *Node {
	return in.Diffusion.HybridLoss(in.Batch, h.Lambda, h.Weight.weights(in.Diffusion))
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindLoss, Name: "simple",
		Doc:    "L_simple: MSE to the predictor's target (plus the variance's VLB term, mean frozen, if the variance is learned)",
		Params: weightingParams,
		New:    func(v plugins.Values) (plugins.Loss, error) { return Simple{Weight: weightingOf(v)}, nil },
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindLoss, Name: "vlb",
		Doc: "the true variational bound: T * L_t at the sampled t (decoder NLL at t = 0)",
		New: func(plugins.Values) (plugins.Loss, error) { return VLB{}, nil },
	})
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindLoss, Name: "hybrid",
		Doc: "L_simple + lambda * L_vlb, the VLB term training only the variance (Improved DDPM)",
		Params: append([]plugins.Param{{Name: "lambda", Type: plugins.Float, Default: 0.001, Min: plugins.Bound(0),
			Doc: "weight of the VLB term"}}, weightingParams...),
		New: func(v plugins.Values) (plugins.Loss, error) {
			return Hybrid{Lambda: v.Float("lambda"), Weight: weightingOf(v)}, nil
		},
	})
}
