package predictors

import (
	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// table is the predictors: one per mean parameterisation of diffusion (the formulas are
// there), each taking any of diffusion's variance parameterisations.
var table = []struct {
	mean diffusion.MeanType
	doc  string
}{
	{diffusion.MeanEps, "the network predicts the noise eps (DDPM)"},
	{diffusion.MeanX0, "the network predicts x_0"},
	{diffusion.MeanMu, "the network predicts the mean of x_{t-1} directly"},
	{diffusion.MeanV, "the network predicts v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0"},
}

func init() {
	var variances []string
	for _, v := range diffusion.Variances {
		variances = append(variances, v.Name)
	}
	for _, p := range table {
		plugins.Register(plugins.Plugin{
			Kind: plugins.KindPredictor, Name: p.mean.Name, Doc: p.doc,
			Params: []plugins.Param{{
				Name: "variance", Type: plugins.String, Default: diffusion.VarFixedLarge.Name, Choices: variances,
				Doc: "variance of p(x_{t-1}|x_t): fixed_small = beta~_t, fixed_large = beta_t, learned = log-variance output, learned_range = interpolation between them",
			}},
			New: func(v plugins.Values) (plugins.Predictor, error) {
				variance, err := diffusion.VarianceNamed(v.String("variance"))
				if err != nil {
					return nil, err
				}
				return diffusion.Parameterization{Mean: p.mean, Variance: variance}, nil
			},
		})
	}
}
