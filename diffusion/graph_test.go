package diffusion_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
)

var backend backends.Backend

func goBackend(t *testing.T) backends.Backend {
	t.Helper()
	if backend == nil {
		b, err := gobackend.New("")
		if err != nil {
			t.Fatal(err)
		}
		backend = b
	}
	return backend
}

// testProcess is a short cosine-like chain with betas spread over (0, 0.5).
func testProcess(t *testing.T) *diffusion.Process {
	t.Helper()
	T := 8
	betas := make([]float64, T)
	for i := range betas {
		betas[i] = 0.01 + 0.009*float64(i*i)
	}
	p, err := diffusion.NewProcess(betas)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const n, d = 8, 3 // batch and data width of every test tensor

// inputs are shared random values: x0 in [-1, 1] (with exact edge values for the decoder's
// open bins), x_t, eps, two means and log-variances, and one timestep per example.
type inputs struct {
	x0, xt, eps, m1, lv1, m2, lv2 []float64
	ts                            []int32
}

func randomInputs() inputs {
	rng := rand.New(rand.NewPCG(1, 2))
	vec := func(scale, shift float64) []float64 {
		v := make([]float64, n*d)
		for i := range v {
			v[i] = shift + scale*(2*rng.Float64()-1)
		}
		return v
	}
	in := inputs{x0: vec(1, 0), xt: vec(2, 0), eps: vec(1.5, 0), m1: vec(1, 0), lv1: vec(1, -2), m2: vec(1, 0), lv2: vec(1, -2)}
	// Pixel values on the 8-bit grid, including both edges.
	for i := range in.x0 {
		in.x0[i] = float64(rng.IntN(256))/127.5 - 1
	}
	in.x0[0], in.x0[1] = -1, 1
	in.ts = make([]int32, n)
	for i := range in.ts {
		in.ts[i] = int32(i % 8)
	}
	return in
}

func f32(v []float64) *tensors.Tensor {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(out, n, d)
}

func run(t *testing.T, fn func(x0, xt, eps, m1, lv1, m2, lv2, ts *Node) *Node, in inputs) []float64 {
	t.Helper()
	exec, err := NewExec(goBackend(t), func(a []*Node) *Node {
		return fn(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(f32(in.x0), f32(in.xt), f32(in.eps), f32(in.m1), f32(in.lv1), f32(in.m2), f32(in.lv2),
		tensors.FromFlatDataAndDimensions(in.ts, n))
	if err != nil {
		t.Fatal(err)
	}
	flat := tensors.MustCopyFlatData[float32](out[0])
	res := make([]float64, len(flat))
	for i, v := range flat {
		res[i] = float64(v)
	}
	return res
}

func closeTo(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.7g, float64 reference %.7g", what, i, got[i], want[i])
		}
	}
}

// Float64 references, written from the equations in DESIGN.md, element by element.
func phi(x float64) float64 { return 0.5 * (1 + math.Erf(x/math.Sqrt2)) }

func refDiscretized(x, mean, logVar float64) float64 {
	s := math.Exp(0.5 * logVar)
	switch {
	case x < -0.999:
		return math.Log(math.Max(phi((x+1.0/255-mean)/s), 1e-12))
	case x > 0.999:
		return math.Log(math.Max(1-phi((x-1.0/255-mean)/s), 1e-12))
	}
	return math.Log(math.Max(phi((x+1.0/255-mean)/s)-phi((x-1.0/255-mean)/s), 1e-12))
}

func refKL(m1, lv1, m2, lv2 float64) float64 {
	return 0.5 * (-1 + lv2 - lv1 + math.Exp(lv1-lv2) + (m1-m2)*(m1-m2)*math.Exp(-lv2))
}

func TestFormulasAgainstFloat64(t *testing.T) {
	p := testProcess(t)
	in := randomInputs()
	each := func(f func(i int, tt int) float64) []float64 {
		out := make([]float64, n*d)
		for i := range out {
			out[i] = f(i, int(in.ts[i/d]))
		}
		return out
	}
	ab := p.AlphaBar
	abPrev := func(tt int) float64 {
		if tt == 0 {
			return 1
		}
		return ab[tt-1]
	}
	postVar := func(tt int) float64 { return p.Betas[tt] * (1 - abPrev(tt)) / (1 - ab[tt]) }
	postMean := func(i, tt int) float64 {
		return p.Betas[tt]*math.Sqrt(abPrev(tt))/(1-ab[tt])*in.x0[i] + (1-abPrev(tt))*math.Sqrt(1-p.Betas[tt])/(1-ab[tt])*in.xt[i]
	}
	clippedLogVar := func(tt int) float64 {
		if tt == 0 {
			return math.Log(postVar(1))
		}
		return math.Log(postVar(tt))
	}
	cases := []struct {
		name string
		fn   func(x0, xt, eps, m1, lv1, m2, lv2, ts *Node) *Node
		want []float64
	}{
		{"q_sample", func(x0, xt, eps, _, _, _, _, ts *Node) *Node { return p.QSample(x0, ts, eps) },
			each(func(i, tt int) float64 { return math.Sqrt(ab[tt])*in.x0[i] + math.Sqrt(1-ab[tt])*in.eps[i] })},
		{"posterior_mean", func(x0, xt, _, _, _, _, _, ts *Node) *Node { m, _ := p.QPosterior(x0, xt, ts); return m },
			each(postMean)},
		{"posterior_log_variance_clipped", func(x0, xt, _, _, _, _, _, ts *Node) *Node { _, v := p.QPosterior(x0, xt, ts); return v },
			each(func(_, tt int) float64 { return clippedLogVar(tt) })},
		{"x0_from_eps", func(_, xt, eps, _, _, _, _, ts *Node) *Node { return p.X0FromEps(xt, ts, eps) },
			each(func(i, tt int) float64 { return math.Sqrt(1/ab[tt])*in.xt[i] - math.Sqrt(1/ab[tt]-1)*in.eps[i] })},
		{"eps_from_x0", func(x0, xt, _, _, _, _, _, ts *Node) *Node { return p.EpsFromX0(xt, ts, x0) },
			each(func(i, tt int) float64 { return (math.Sqrt(1/ab[tt])*in.xt[i] - in.x0[i]) / math.Sqrt(1/ab[tt]-1) })},
		{"x0_from_v", func(_, xt, eps, _, _, _, _, ts *Node) *Node { return p.X0FromV(xt, ts, eps) },
			each(func(i, tt int) float64 { return math.Sqrt(ab[tt])*in.xt[i] - math.Sqrt(1-ab[tt])*in.eps[i] })},
		{"v_target", func(x0, _, eps, _, _, _, _, ts *Node) *Node { return p.VTarget(x0, ts, eps) },
			each(func(i, tt int) float64 { return math.Sqrt(ab[tt])*in.eps[i] - math.Sqrt(1-ab[tt])*in.x0[i] })},
		{"x0_from_mu(posterior mean) = x0", func(x0, xt, _, _, _, _, _, ts *Node) *Node {
			m, _ := p.QPosterior(x0, xt, ts)
			return p.X0FromMu(xt, ts, m)
		}, in.x0},
		{"normal_kl", func(_, _, _, m1, lv1, m2, lv2, _ *Node) *Node { return diffusion.NormalKL(m1, lv1, m2, lv2) },
			each(func(i, _ int) float64 { return refKL(in.m1[i], in.lv1[i], in.m2[i], in.lv2[i]) })},
		{"discretized_gaussian_loglik", func(x0, _, _, m1, lv1, _, _, _ *Node) *Node {
			return diffusion.DiscretizedGaussianLogLikelihood(x0, m1, lv1)
		}, each(func(i, _ int) float64 { return refDiscretized(in.x0[i], in.m1[i], in.lv1[i]) })},
		{"gaussian_log_density", func(x0, _, _, m1, lv1, _, _, _ *Node) *Node { return diffusion.GaussianLogDensity(x0, m1, lv1) },
			each(func(i, _ int) float64 {
				return -0.5 * (math.Log(2*math.Pi) + in.lv1[i] + (in.x0[i]-in.m1[i])*(in.x0[i]-in.m1[i])*math.Exp(-in.lv1[i]))
			})},
	}
	for _, c := range cases {
		closeTo(t, c.name, run(t, c.fn, in), c.want, 2e-5)
	}
}

func TestVLBTermAndPrior(t *testing.T) {
	p := testProcess(t)
	in := randomInputs()
	for _, discrete := range []bool{true, false} {
		dd := &diffusion.Diffusion{Process: p, Discrete: discrete}
		got := run(t, func(x0, xt, _, m1, lv1, _, _, ts *Node) *Node {
			return dd.VLBTermOf(x0, xt, ts, m1, lv1, nil)
		}, in)
		for i := range n {
			tt := int(in.ts[i])
			var want float64
			for k := range d {
				j := i*d + k
				if tt == 0 {
					if discrete {
						want -= refDiscretized(in.x0[j], in.m1[j], in.lv1[j]) / d
					} else {
						want -= -0.5 * (math.Log(2*math.Pi) + in.lv1[j] + math.Pow(in.x0[j]-in.m1[j], 2)*math.Exp(-in.lv1[j])) / d
					}
					continue
				}
				abPrev := p.AlphaBar[tt-1]
				mean := p.Betas[tt]*math.Sqrt(abPrev)/(1-p.AlphaBar[tt])*in.x0[j] + (1-abPrev)*math.Sqrt(1-p.Betas[tt])/(1-p.AlphaBar[tt])*in.xt[j]
				lv := math.Log(p.Betas[tt] * (1 - abPrev) / (1 - p.AlphaBar[tt]))
				want += refKL(mean, lv, in.m1[j], in.lv1[j]) / d
			}
			if math.Abs(got[i]-want) > 2e-5*(1+math.Abs(want)) {
				t.Fatalf("discrete=%v example %d (t=%d): L_t = %.7g, float64 %.7g", discrete, i, tt, got[i], want)
			}
		}
	}
	x0 := make([]float32, len(in.x0))
	for i, v := range in.x0 {
		x0[i] = float32(v)
	}
	last := p.T - 1
	var want float64
	for i := range n {
		for k := range d {
			// KL(N(m, v) || N(0, 1)) with m and v from alpha_bar_T itself.
			m := math.Sqrt(p.AlphaBar[last]) * float64(x0[i*d+k])
			v := 1 - p.AlphaBar[last]
			want += 0.5 * (-1 - math.Log(v) + v + m*m) / float64(d*n)
		}
	}
	if got := p.PriorKL(x0); math.Abs(got-want) > 1e-12*(1+want) {
		t.Fatalf("prior KL = %.15g, float64 reference %.15g", got, want)
	}
}

func TestVariances(t *testing.T) {
	p := testProcess(t)
	in := randomInputs()
	fixed := func(v diffusion.VarType) []float64 {
		return run(t, func(_, xt, _, _, _, _, _, ts *Node) *Node { return v.LogVar(p, nil, xt, ts) }, in)
	}
	small, large := fixed(diffusion.VarFixedSmall), fixed(diffusion.VarFixedLarge)
	for i := range n * d {
		tt := int(in.ts[i/d])
		wantLarge := math.Log(p.Betas[tt])
		if tt == 0 {
			wantLarge = math.Log(p.PosteriorVariance[1])
		}
		wantSmall := p.PosteriorLogVarianceClipped[tt]
		if math.Abs(small[i]-wantSmall) > 1e-5*(1+math.Abs(wantSmall)) || math.Abs(large[i]-wantLarge) > 1e-5*(1+math.Abs(wantLarge)) {
			t.Fatalf("t=%d: fixed_small %.7g (want %.7g), fixed_large %.7g (want %.7g)", tt, small[i], wantSmall, large[i], wantLarge)
		}
	}
	// learned_range: v = -1 gives the posterior variance, v = +1 gives beta_t.
	for _, v := range []float64{-1, 1, 0} {
		got := run(t, func(_, xt, _, _, _, _, _, ts *Node) *Node {
			return diffusion.VarLearnedRange.LogVar(p, AddScalar(ZerosLike(xt), v), xt, ts)
		}, in)
		for i := range n * d {
			tt := int(in.ts[i/d])
			frac := (v + 1) / 2
			want := frac*math.Log(p.Betas[tt]) + (1-frac)*p.PosteriorLogVarianceClipped[tt]
			if math.Abs(got[i]-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("learned_range v=%g t=%d: %.7g, want %.7g", v, tt, got[i], want)
			}
		}
	}
}

func TestProcessPosteriorVarianceIsZeroAtFirstStep(t *testing.T) {
	p := testProcess(t)
	if p.PosteriorVariance[0] != 0 || p.PosteriorLogVarianceClipped[0] != math.Log(p.PosteriorVariance[1]) {
		t.Errorf("t=0: variance %g, clipped log %g", p.PosteriorVariance[0], p.PosteriorLogVarianceClipped[0])
	}
	if _, err := diffusion.NewProcess([]float64{0.1, 0}); err == nil {
		t.Error("a zero beta was accepted")
	}
}

func TestDecoderRows(t *testing.T) {
	ts := make([]int32, 20)
	for i := range ts {
		ts[i] = int32(i%7 + 1)
	}
	ts[3], ts[11] = 0, 0
	rows := diffusion.DecoderRows(ts, make([]int32, len(ts)))
	if want := []int32{3, 11, -1, -1, -1, -1, -1, -1}; !slices.Equal(rows, want) {
		t.Fatalf("rows = %v, want %v", rows, want)
	}
	for i := range 9 {
		ts[i] = 0
	}
	if rows := diffusion.DecoderRows(ts, make([]int32, len(ts))); len(rows) != len(ts) || rows[8] != 8 || rows[9] != 11 || rows[10] != -1 {
		t.Fatalf("with 10 rows at t = 0: %v, want the whole batch's size", rows)
	}
}

// TestVLBTermOnDecoderRowsIsBitIdentical checks that computing the decoder for the rows with
// t = 0 only gives exactly the values and gradients of computing it for every row (a zero
// gradient may come out as -0 one way and +0 the other, which no later sum can tell apart).
func TestVLBTermOnDecoderRowsIsBitIdentical(t *testing.T) {
	p := testProcess(t)
	in := randomInputs()
	for _, pattern := range []string{"random", "none", "one", "all", "infinite row 0"} {
		switch pattern {
		case "none":
			for i := range in.ts {
				in.ts[i] = int32(i%(p.T-1)) + 1
			}
		case "one":
			in.ts[2] = 0
		case "all":
			clear(in.ts)
		case "infinite row 0":
			// Unused slots read row 0: its infinite values must not reach the row with t = 0.
			for i := range in.ts {
				in.ts[i] = int32(i%(p.T-1)) + 1
			}
			in.ts[5] = 0
			for k := range d {
				in.lv1[k] = math.Inf(1)
			}
		}
		rows := diffusion.DecoderRows(in.ts, make([]int32, n))
		for _, discrete := range []bool{true, false} {
			dd := &diffusion.Diffusion{Process: p, Discrete: discrete}
			for _, what := range []string{"value", "d/dmean", "d/dlogvar"} {
				build := func(withRows bool) func(x0, xt, eps, m1, lv1, m2, lv2, ts *Node) *Node {
					return func(x0, xt, _, m1, lv1, _, _, ts *Node) *Node {
						var r *Node
						if withRows {
							r = Const(x0.Graph(), rows)
						}
						v := dd.VLBTermOf(x0, xt, ts, m1, lv1, r)
						switch what {
						case "d/dmean":
							return Gradient(ReduceAllSum(v), m1)[0]
						case "d/dlogvar":
							return Gradient(ReduceAllSum(v), lv1)[0]
						}
						return v
					}
				}
				all, selected := run(t, build(false), in), run(t, build(true), in)
				if pattern == "infinite row 0" && what == "value" && (math.IsNaN(selected[5]) || math.IsInf(selected[5], 0)) {
					t.Fatalf("discrete=%v: L_0 of row 5 is %v with an infinite row 0", discrete, selected[5])
				}
				for i := range all {
					if all[i] != selected[i] || math.IsNaN(all[i]) != math.IsNaN(selected[i]) {
						t.Fatalf("%s, discrete=%v, %s[%d]: %v on all rows, %v on the rows %v", pattern, discrete, what, i, all[i], selected[i], rows)
					}
				}
			}
		}
	}
}
