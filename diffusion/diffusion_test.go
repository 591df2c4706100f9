package diffusion_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
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

// learnedMu is the parameterisation whose output is p(x_{t-1} | x_t) itself: the mean part is
// the mean, the variance part the log-variance, so tests can give both directly.
var learnedMu = diffusion.Parameterization{Mean: diffusion.MeanMu, Variance: diffusion.VarLearned}

// TestLossesComposeTheVLBTerm: the training losses are the MSE and the one VLB term, put
// together as their equations say, and that term is the KL (or decoder NLL) of the model's
// p(x_{t-1} | x_t).
func TestLossesComposeTheVLBTerm(t *testing.T) {
	in := randomInputs()
	for _, discrete := range []bool{true, false} {
		dd := &diffusion.Diffusion{Process: testProcess(t), Parameterization: learnedMu, Discrete: discrete}
		T := float64(dd.T)
		const lambda = 0.25
		terms := map[string][]float64{}
		for _, what := range []string{"mse", "vlb", "direct", "simple", "vlb_loss", "hybrid", "vlb_loss_bits"} {
			terms[what] = run(t, func(x0, xt, eps, m1, lv1, _, _, ts *Node) *Node {
				b := diffusion.Batch{X0: x0, T: ts, Noise: eps, Xt: xt, Output: Concatenate([]*Node{m1, lv1}, -1)}
				d := *dd
				switch what {
				case "mse":
					return d.MSE(b)
				case "vlb":
					return d.VLBTerm(b, false, false)
				case "direct":
					return d.VLBTermOf(x0, xt, ts, m1, lv1, nil)
				case "simple":
					return d.SimpleLoss(b, nil)
				case "vlb_loss":
					return d.VLBLoss(b)
				case "hybrid":
					return d.HybridLoss(b, lambda, nil)
				}
				d.VLBBits = true
				return d.VLBLoss(b)
			}, in)
		}
		mse, vlb := terms["mse"], terms["vlb"]
		for i := range n {
			tt := int(in.ts[i])
			var want float64
			for k := range d {
				j := i*d + k
				abPrev := 1.0
				if tt > 0 {
					abPrev = dd.AlphaBar[tt-1]
				}
				mu := dd.Betas[tt]*math.Sqrt(abPrev)/(1-dd.AlphaBar[tt])*in.x0[j] + (1-abPrev)*math.Sqrt(1-dd.Betas[tt])/(1-dd.AlphaBar[tt])*in.xt[j]
				want += math.Pow(mu-in.m1[j], 2) / d
			}
			check := func(what string, got, want float64) {
				if math.Abs(got-want) > 2e-5*(1+math.Abs(want)) {
					t.Errorf("discrete=%v, example %d (t=%d): %s = %.7g, want %.7g", discrete, i, tt, what, got, want)
				}
			}
			check("MSE against the posterior mean", mse[i], want)
			if vlb[i] != terms["direct"][i] {
				t.Errorf("discrete=%v, example %d: VLBTerm %v, L_t of the same mean and variance %v", discrete, i, vlb[i], terms["direct"][i])
			}
			check("simple", terms["simple"][i], mse[i]+vlb[i])
			check("vlb", terms["vlb_loss"][i], T*vlb[i])
			check("hybrid", terms["hybrid"][i], mse[i]+lambda*T*vlb[i])
			check("vlb in bits", terms["vlb_loss_bits"][i], T*vlb[i]/math.Ln2)
		}
	}
}

// TestGuideMixesTheMeanOnly: guidance mixes the mean parts, uncond + s (cond - uncond), and
// keeps the conditional output's variance part.
func TestGuideMixesTheMeanOnly(t *testing.T) {
	in := randomInputs()
	const s = 3
	fixed := diffusion.Parameterization{Mean: diffusion.MeanEps, Variance: diffusion.VarFixedSmall}
	got := run(t, func(_, _, _, m1, _, m2, _, _ *Node) *Node { return fixed.Guide(m1, m2, s) }, in)
	for i := range got {
		if want := in.m2[i] + s*(in.m1[i]-in.m2[i]); math.Abs(got[i]-want) > 1e-5*(1+math.Abs(want)) {
			t.Fatalf("fixed variance [%d]: %.7g, want %.7g", i, got[i], want)
		}
	}
	got = run(t, func(_, _, _, m1, lv1, m2, lv2, _ *Node) *Node {
		return learnedMu.Guide(Concatenate([]*Node{m1, lv1}, -1), Concatenate([]*Node{m2, lv2}, -1), s)
	}, in)
	for i := range n {
		for k := range d {
			j := i*d + k
			mean, logVar := got[i*2*d+k], got[i*2*d+d+k]
			if want := in.m2[j] + s*(in.m1[j]-in.m2[j]); math.Abs(mean-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("learned variance, mean [%d]: %.7g, want %.7g", j, mean, want)
			}
			if want := float64(float32(in.lv1[j])); logVar != want {
				t.Fatalf("learned variance, log-variance [%d]: %.7g, want the conditional %.7g", j, logVar, want)
			}
		}
	}
}

// TestBoundLoop: the bound sums every step's term over examples in batches of BoundBatch,
// keeps each t's and each example's, draws the same noise for the same (seed, t, batch),
// and stops with the context's error.
func TestBoundLoop(t *testing.T) {
	p := testProcess(t)
	dd := &diffusion.Diffusion{Process: p}
	const dim = 2
	n := diffusion.BoundBatch + 3
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(i%7) / 8 // dyadic: every term below is exact in float32
	}
	noiseOf := map[[2]int][]float32{}
	term := func(start int, x0 []float32, tt int, noise []float32) ([]float32, error) {
		m := len(x0) / dim
		if want := min(diffusion.BoundBatch, n-start); m != want || len(noise) != len(x0) || !slices.Equal(x0, x[start*dim:(start+m)*dim]) {
			t.Errorf("t=%d, batch at %d: %d examples (want %d), %d noise values", tt, start, m, want, len(noise))
		}
		key := [2]int{tt, start}
		if prev, ok := noiseOf[key]; ok && !slices.Equal(prev, noise) {
			t.Errorf("t=%d, batch at %d: other noise than before", tt, start)
		}
		noiseOf[key] = slices.Clone(noise)
		out := make([]float32, m)
		for k := range out {
			out[k] = float32(tt+1) * x0[k*dim] // L_t of example start+k
		}
		return out, nil
	}
	for range 2 {
		b, err := dd.Bound(context.Background(), x, dim, 7, term)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.PerT) != p.T || len(b.PerExample) != n {
			t.Fatalf("%d per-t values (want %d), %d per-example (want %d)", len(b.PerT), p.T, len(b.PerExample), n)
		}
		var mean0 float64
		for i := range n {
			mean0 += float64(x[i*dim]) / float64(n)
		}
		var terms float64
		for tt, v := range b.PerT {
			if want := float64(tt+1) * mean0; math.Abs(v-want) > 1e-9 {
				t.Errorf("L_%d = %g, want %g", tt, v, want)
			}
			if tt > 0 {
				terms += v
			}
		}
		if math.Abs(b.Decoder-b.PerT[0]) > 1e-12 || math.Abs(b.Terms-terms) > 1e-9 || b.Prior != p.PriorKL(x) {
			t.Errorf("decoder %g (L_0 %g), terms %g (want %g), prior %g (want %g)", b.Decoder, b.PerT[0], b.Terms, terms, b.Prior, p.PriorKL(x))
		}
		for _, i := range []int{0, diffusion.BoundBatch - 1, diffusion.BoundBatch, n - 1} {
			want := float64(x[i*dim])*float64(p.T*(p.T+1)/2) + b.Prior
			if math.Abs(b.PerExample[i]-want) > 1e-9 {
				t.Errorf("example %d: bound %g, want %g", i, b.PerExample[i], want)
			}
		}
	}
	if len(noiseOf) != 2*p.T {
		t.Errorf("%d (t, batch) pairs evaluated, want %d", len(noiseOf), 2*p.T)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dd.Bound(ctx, x, dim, 7, term); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled bound: %v", err)
	}
}
