package diffusion_test

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
)

// TestPerfectPredictionRecoversPosterior: when the network outputs exactly the target of
// L_simple, every mean type must give back x_0 and the true posterior mean. This ties the
// targets, the conversions and PMeanVariance together for eps, x0, mu and v.
func TestPerfectPredictionRecoversPosterior(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	betas := make([]float64, 50)
	for i := range betas {
		betas[i] = 1e-3 + (0.1-1e-3)*float64(i)/49
	}
	proc, err := diffusion.NewProcess(betas)
	if err != nil {
		t.Fatal(err)
	}
	n, d := 6, 4
	rng := rand.New(rand.NewPCG(5, 5))
	// The graph math runs in float32, the dtype of every training graph.
	x0, noise := make([]float32, n*d), make([]float32, n*d)
	for i := range x0 {
		x0[i], noise[i] = float32(2*rng.Float64()-1), float32(rng.NormFloat64())
	}
	ts := []int32{0, 1, 7, 20, 38, 49}
	for _, mean := range diffusion.Means {
		p := &diffusion.Diffusion{Process: proc, Parameterization: diffusion.Parameterization{Mean: mean, Variance: diffusion.VarFixedSmall}}
		res := MustNewExec(backend, func(x0, noise, ts *Node) []*Node {
			xt := proc.QSample(x0, ts, noise)
			target := p.Mean.Target(proc, x0, xt, ts, noise)
			m, _, x0hat := p.PMeanVariance(target, nil, xt, ts, false)
			trueMean, _ := proc.QPosterior(x0, xt, ts)
			return []*Node{x0hat, m, trueMean}
		}).MustExec(tensors.FromFlatDataAndDimensions(x0, n, d), tensors.FromFlatDataAndDimensions(noise, n, d),
			tensors.FromFlatDataAndDimensions(ts, n))
		gotX0 := tensors.MustCopyFlatData[float32](res[0])
		gotMean, trueMean := tensors.MustCopyFlatData[float32](res[1]), tensors.MustCopyFlatData[float32](res[2])
		for i := range x0 {
			// Recovering x0 divides by a coefficient that shrinks with t (sqrt(alpha_bar) for
			// eps, coef1 for mu): float32 rounding grows by the same factor.
			scale := 1 / min(proc.SqrtAlphaBar[ts[i/d]], proc.PosteriorMeanCoef1[ts[i/d]])
			if diff := math.Abs(float64(gotX0[i] - x0[i])); diff > 1e-5*scale*(1+math.Abs(float64(x0[i]))) {
				t.Fatalf("%s, t=%d: x0-hat %.7g, x0 %.7g", mean.Name, ts[i/d], gotX0[i], x0[i])
			}
			if diff := math.Abs(float64(gotMean[i] - trueMean[i])); diff > 1e-5*(1+math.Abs(float64(trueMean[i]))) {
				t.Fatalf("%s, t=%d: mean %.7g, posterior mean %.7g", mean.Name, ts[i/d], gotMean[i], trueMean[i])
			}
		}
	}
}
