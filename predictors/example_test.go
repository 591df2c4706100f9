package predictors_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
	_ "github.com/ddpm-runner/ddpm-runner/predictors"
)

// A predictor of your own, from any module: its value is a diffusion.Parameterization, built
// from diffusion's tables or from a mean or variance parameterisation of its own. This one
// predicts eps with a fixed variance halfway, in log, between beta~_t and beta_t.
func Example_ownPredictor() {
	mid := diffusion.VarType{
		Name: "fixed_mid",
		LogVar: func(p *diffusion.Process, _, xt, t *graph.Node) *graph.Node {
			logVar := make([]float64, p.T)
			for i := range logVar {
				logVar[i] = (p.PosteriorLogVarianceClipped[i] + p.LogBetas[i]) / 2
			}
			return graph.BroadcastToDims(diffusion.Extract(xt.Graph(), logVar, t, xt.Rank()), xt.Shape().Dimensions...)
		},
	}
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindPredictor, Name: "eps_mid", Doc: "eps, with log sigma^2 halfway between log beta~_t and log beta_t",
		New: func(plugins.Values) (plugins.Predictor, error) {
			return diffusion.Parameterization{Mean: diffusion.MeanEps, Variance: mid}, nil
		},
	})
	for _, name := range []string{"eps_mid", "v"} {
		v, err := plugins.Build(plugins.KindPredictor, name, map[string]any{})
		if err != nil {
			fmt.Println(err)
			return
		}
		p := v.(plugins.Predictor).Parameterization()
		fmt.Printf("%s: mean %s, variance %s, %dx the data's width\n", name, p.Mean.Name, p.Variance.Name, p.OutputMultiplier())
	}
	// Output:
	// eps_mid: mean eps, variance fixed_mid, 1x the data's width
	// v: mean v, variance fixed_large, 1x the data's width
}
