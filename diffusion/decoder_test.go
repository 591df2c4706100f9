package diffusion_test

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
)

// idCDF is improved-diffusion's approx_standard_normal_cdf, in float64.
func idCDF(x float64) float64 {
	return 0.5 * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// idLogLikelihood is improved-diffusion's discretized_gaussian_log_likelihood for one value,
// in float64 (losses.py: bins of width 2/255, open edge bins, probabilities floored at 1e-12).
func idLogLikelihood(x, mean, logScale float64, cdf func(float64) float64) float64 {
	centered := x - mean
	inv := math.Exp(-logScale)
	cdfPlus := cdf(inv * (centered + 1.0/255))
	cdfMin := cdf(inv * (centered - 1.0/255))
	logCdfPlus := math.Log(math.Max(cdfPlus, 1e-12))
	logOneMinusCdfMin := math.Log(math.Max(1-cdfMin, 1e-12))
	switch {
	case x < -0.999:
		return logCdfPlus
	case x > 0.999:
		return logOneMinusCdfMin
	}
	return math.Log(math.Max(cdfPlus-cdfMin, 1e-12))
}

func exactCDF(x float64) float64 { return 0.5 * (1 + math.Erf(x/math.Sqrt2)) }

// With decoder_cdf = "tanh" the decoder term L_0 is improved-diffusion's, value for value;
// it differs from the exact one by up to a few percent where the bin is narrow against sigma.
func TestTanhDecoderMatchesImprovedDiffusion(t *testing.T) {
	b := goBackend(t)
	xs := []float64{-1, -0.6, -0.2, 0, 0.3, 0.8, 1}
	for _, sigma := range []float64{0.002, 0.01, 0.05, 0.3} {
		mean := make([]float64, len(xs))
		for i, x := range xs {
			mean[i] = x + 0.7*sigma*math.Sin(float64(i)) // off the bin centre by up to 0.7 sigma
		}
		logVar := 2 * math.Log(sigma)
		for _, tanh := range []bool{false, true} {
			d := &diffusion.Diffusion{Process: testProcess(t), Discrete: true, TanhDecoderCDF: tanh}
			x32, m32 := make([]float32, len(xs)), make([]float32, len(xs))
			for i := range xs {
				x32[i], m32[i] = float32(xs[i]), float32(mean[i])
			}
			got := tensors.MustCopyFlatData[float32](MustNewExec(b, func(x0, m *Node) *Node {
				g := x0.Graph()
				lv := AddScalar(ZerosLike(m), logVar)
				ts := Const(g, make([]int32, len(xs)))
				return d.VLBTermOf(x0, x0, ts, m, lv, nil) // t = 0: the decoder term
			}).MustExec(tensors.FromFlatDataAndDimensions(x32, len(xs), 1), tensors.FromFlatDataAndDimensions(m32, len(xs), 1))[0])
			cdf := exactCDF
			if tanh {
				cdf = idCDF
			}
			for i := range xs {
				// The graph's inputs are float32: the reference takes the same rounded values.
				want := -idLogLikelihood(float64(x32[i]), float64(m32[i]), float64(float32(logVar))/2, cdf)
				if math.Abs(float64(got[i])-want) > 2e-6*math.Max(1, math.Abs(want)) {
					t.Errorf("sigma %g, tanh %v, x %g: L_0 %.9g, improved-diffusion's formula %.9g", sigma, tanh, xs[i], got[i], want)
				}
			}
		}
	}
	// How far apart the two decoders are, on the values above (docs/training-options.md quotes it).
	worst := 0.0
	for _, sigma := range []float64{0.002, 0.01, 0.05, 0.3} {
		for i, x := range xs {
			m := x + 0.7*sigma*math.Sin(float64(i))
			e, a := -idLogLikelihood(x, m, math.Log(sigma), exactCDF), -idLogLikelihood(x, m, math.Log(sigma), idCDF)
			worst = math.Max(worst, math.Abs(a-e)/math.Abs(e))
		}
	}
	if worst < 1e-4 || worst > 0.1 {
		t.Errorf("largest relative difference of the two decoders %.3g: want a few percent at most, and some", worst)
	}
	t.Logf("largest relative difference of L_0, tanh against exact: %.3g", worst)
}

// The tanh approximation stays within 2e-4 of Phi.
func TestApproxCDF(t *testing.T) {
	xs := make([]float64, 0, 241)
	for i := -120; i <= 120; i++ {
		xs = append(xs, float64(i)/20)
	}
	got := tensors.MustCopyFlatData[float64](MustNewExec(goBackend(t), diffusion.ApproxStandardNormalCDF).MustExec(xs)[0])
	worst := 0.0
	for i, x := range xs {
		if math.Abs(got[i]-idCDF(x)) > 1e-14 {
			t.Fatalf("x %g: %.17g, improved-diffusion's %.17g", x, got[i], idCDF(x))
		}
		worst = math.Max(worst, math.Abs(got[i]-exactCDF(x)))
	}
	if worst > 2e-4 {
		t.Errorf("tanh approximation off Phi by %.3g", worst)
	}
	t.Logf("largest |tanh approximation - Phi| on [-6, 6]: %.3g", worst)
}

// Zero terminal SNR (Lin et al. 2024): alpha_bar_T becomes exactly 0 and alpha_bar_1 stays;
// worked by hand for betas (0.5, 0.5): sqrt(alpha_bar) = (0.7071, 0.5) is shifted to
// (0.2071, 0) and scaled back to (0.7071, 0), so the betas become (0.5, 1).
func TestRescaleZeroTerminalSNR(t *testing.T) {
	got := diffusion.RescaleZeroTerminalSNR([]float64{0.5, 0.5})
	if math.Abs(got[0]-0.5) > 1e-15 || got[1] != 1 {
		t.Errorf("betas %v, want (0.5, 1)", got)
	}
	betas := make([]float64, 1000)
	for i := range betas {
		betas[i] = 1e-4 + (0.02-1e-4)*float64(i)/999
	}
	p, err := diffusion.NewProcess(diffusion.RescaleZeroTerminalSNR(betas))
	if err != nil {
		t.Fatal(err)
	}
	p.Rescaled = true
	q, _ := diffusion.NewProcess(betas)
	if !p.ZeroTerminalSNR() || q.ZeroTerminalSNR() || math.Abs(p.AlphaBar[0]-q.AlphaBar[0]) > 1e-15 {
		t.Errorf("alpha_bar_T %g (want 0), alpha_bar_1 %g (original %g)", p.AlphaBar[999], p.AlphaBar[0], q.AlphaBar[0])
	}
	for i := 1; i < 1000; i++ {
		if !(p.AlphaBar[i] < p.AlphaBar[i-1]) {
			t.Fatalf("alpha_bar not decreasing at %d: %g, %g", i, p.AlphaBar[i-1], p.AlphaBar[i])
		}
	}
	// At alpha_bar = 0, eps-hat is x_t itself: x_T is pure noise.
	xt := []float32{0.3, -1.2}
	got32 := tensors.MustCopyFlatData[float32](MustNewExec(goBackend(t), func(x, x0 *Node) *Node {
		ts := Const(x.Graph(), []int32{999, 999})
		return p.EpsFromX0(x, ts, x0)
	}).MustExec(tensors.FromFlatDataAndDimensions(xt, 2, 1), tensors.FromFlatDataAndDimensions([]float32{5, 5}, 2, 1))[0])
	if got32[0] != xt[0] || got32[1] != xt[1] {
		t.Errorf("eps at alpha_bar = 0: %v, want x_t %v", got32, xt)
	}
}
