package samplers

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/ddpm-runner/ddpm-runner/diffusion"
	"github.com/ddpm-runner/ddpm-runner/internal/gobackend"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// Gaussian data N(mu, s^2) have an exact denoiser. In Karras's variables (x~ = x/sqrt(alpha_bar),
// sigma^2 = (1 - alpha_bar)/alpha_bar) it is D(x~) = mu + s^2/(s^2 + sigma^2) (x~ - mu), and the
// probability-flow ODE dx~/dsigma = (x~ - D)/sigma solves to x~ - mu proportional to
// sqrt(s^2 + sigma^2): from x_T ~ N(0, 1) at sigma_max the exact chain ends at
// N(mu (1 - s/sqrt(s^2 + sigma_max^2)), s^2 (1 + sigma_max^2)/(s^2 + sigma_max^2)).
type gaussian struct{ mu, s2 float64 }

func (g gaussian) denoise(xt, sigma float64) float64 { return g.mu + g.s2/(g.s2+sigma*sigma)*(xt-g.mu) }

// exact is the end of the exact chain from x_T ~ N(0, 1) at sigmaMax down to sigmaMin, followed
// by the step to sigma = 0 that every solver here takes last (x = D(x~): Euler's step to 0),
// so that the discretisation alone is measured: x~(sigmaMin) - mu = (x~_T - mu) f with
// f = sqrt(s^2 + sigmaMin^2)/sqrt(s^2 + sigmaMax^2), then x = mu + c (x~ - mu), c = s^2/(s^2 + sigmaMin^2).
func (g gaussian) exact(sigmaMax, sigmaMin float64) (mean, variance float64) {
	f := math.Sqrt((g.s2 + sigmaMin*sigmaMin) / (g.s2 + sigmaMax*sigmaMax))
	c := g.s2 / (g.s2 + sigmaMin*sigmaMin)
	a := math.Sqrt(1+sigmaMax*sigmaMax) * f * c // the coefficient of z
	return g.mu - g.mu*f*c, a * a
}

// affine is a value a z + b of the chain's starting noise z ~ N(0, 1): every quantity the
// solvers compute with the linear denoiser is one, so the end's mean and variance are exact.
type affine struct{ a, b float64 }

func (u affine) add(v affine) affine    { return affine{u.a + v.a, u.b + v.b} }
func (u affine) scale(c float64) affine { return affine{c * u.a, c * u.b} }
func (g gaussian) den(x affine, s float64) affine {
	c := g.s2 / (g.s2 + s*s)
	return affine{c * x.a, g.mu + c*(x.b-g.mu)}
}

// The float64 references below follow k-diffusion's sample_euler, sample_heun and
// sample_dpmpp_2m on the sigma list sigmas (decreasing, ending at 0), in x~.
func refEuler(g gaussian, sigmas []float64, x affine) affine {
	for i := 0; i+1 < len(sigmas); i++ {
		d := x.add(g.den(x, sigmas[i]).scale(-1)).scale(1 / sigmas[i])
		x = x.add(d.scale(sigmas[i+1] - sigmas[i]))
	}
	return x
}

func refHeun(g gaussian, sigmas []float64, x affine) affine {
	for i := 0; i+1 < len(sigmas); i++ {
		dt := sigmas[i+1] - sigmas[i]
		d := x.add(g.den(x, sigmas[i]).scale(-1)).scale(1 / sigmas[i])
		x2 := x.add(d.scale(dt))
		if sigmas[i+1] == 0 {
			x = x2
			continue
		}
		d2 := x2.add(g.den(x2, sigmas[i+1]).scale(-1)).scale(1 / sigmas[i+1])
		x = x.add(d.add(d2).scale(dt / 2))
	}
	return x
}

func refDPM2M(g gaussian, sigmas []float64, x affine) affine {
	lambda := func(s float64) float64 { return -math.Log(s) }
	var old *affine
	for i := 0; i+1 < len(sigmas); i++ {
		den := g.den(x, sigmas[i])
		if sigmas[i+1] == 0 {
			x = den
		} else {
			h := lambda(sigmas[i+1]) - lambda(sigmas[i])
			dd := den
			if old != nil {
				r := (lambda(sigmas[i]) - lambda(sigmas[i-1])) / h
				dd = den.scale(1 + 1/(2*r)).add(old.scale(-1 / (2 * r)))
			}
			x = x.scale(sigmas[i+1] / sigmas[i]).add(dd.scale(-math.Expm1(-h)))
		}
		old = &den
	}
	return x
}

// linearProcess is DDPM's linear schedule at T = 1000.
func linearProcess(t *testing.T) *diffusion.Process {
	betas := make([]float64, 1000)
	for i := range betas {
		betas[i] = 1e-4 + (0.02-1e-4)*float64(i)/999
	}
	p, err := diffusion.NewProcess(betas)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// planSigmas is the decreasing sigma list a plan visits, ending at 0.
func planSigmas(q *diffusion.Process) []float64 {
	out := make([]float64, 0, q.T+1)
	for i := q.T - 1; i >= 0; i-- {
		out = append(out, math.Sqrt((1-q.AlphaBar[i])/q.AlphaBar[i]))
	}
	return append(out, 0)
}

var odeReferences = []struct {
	name  string
	make  func(k int) plugins.Sampler
	ref   func(gaussian, []float64, affine) affine
	order float64
}{
	{"euler", func(k int) plugins.Sampler { return Euler{Spaced{Steps: k}} }, refEuler, 1},
	{"heun", func(k int) plugins.Sampler { return Heun{Spaced{Steps: k}} }, refHeun, 2},
	{"dpmpp_2m", func(k int) plugins.Sampler { return DPMSolver2M{Spaced{Steps: k}} }, refDPM2M, 2},
}

// With the exact model, the references' end mean and variance converge to the exact chain's
// as the steps double, at the order each method claims.
func TestODEReferencesConvergeAtTheirOrder(t *testing.T) {
	p := linearProcess(t)
	for _, g := range []gaussian{{0, 1}, {0.5, 0.09}} { // the gaussian dataset, and a narrow shifted one
		for _, m := range odeReferences {
			var errs []float64
			ks := []int{50, 100, 200, 400} // past the first steps, where the error constants still change
			for _, k := range ks {
				q, _, err := m.make(k).Plan(p)
				if err != nil {
					t.Fatal(err)
				}
				sig := planSigmas(q)
				end := m.ref(g, sig, affine{math.Sqrt(1 + sig[0]*sig[0]), 0})
				mean, variance := g.exact(sig[0], sig[len(sig)-2])
				errs = append(errs, math.Abs(end.a*end.a-variance)+math.Abs(end.b-mean))
			}
			for i := 1; i < len(errs); i++ {
				rate := math.Log2(errs[i-1] / errs[i])
				if rate < m.order-0.35 || rate > m.order+0.8 {
					t.Errorf("%s on N(%g, %g): error %.3g at %d steps, %.3g at %d: observed order %.2f, want %g",
						m.name, g.mu, g.s2, errs[i-1], ks[i-1], errs[i], ks[i], rate, m.order)
				}
			}
			t.Logf("%s on N(%g, %g): errors at %v steps: %.3g", m.name, g.mu, g.s2, ks, errs)
		}
	}
}

// The graph samplers, run as the engine runs them with the exact x0 model, give the float64
// references' values, example by example.
func TestODESamplersMatchReferences(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	p := linearProcess(t)
	g := gaussian{0.5, 0.09}
	z := []float64{-2.1, -1, -0.3, 0, 0.4, 1.3, 2.5, 3}
	for _, mean := range []diffusion.MeanType{diffusion.MeanX0, diffusion.MeanEps, diffusion.MeanV} {
		pred := diffusion.Parameterization{Mean: mean, Variance: diffusion.VarFixedSmall}
		for _, m := range odeReferences {
			// Not 2 or 3 steps: Heun's correction from sigma_max = 158 to sigma = 0.01 weighs the
			// eps-hat at 0.01 (a float32 difference of two nearly equal values) by 158, and no
			// float32 implementation keeps five digits there.
			for _, k := range []int{1, 5, 20} {
				sampler := m.make(k)
				q, _, err := sampler.Plan(p)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := runChain(t, backend, sampler, q, pred, g, z)
				sig := planSigmas(q)
				for e, zv := range z {
					want := m.ref(g, sig, affine{math.Sqrt(1 + sig[0]*sig[0]), 0})
					wv := want.a*zv + want.b
					if math.Abs(got[e]-wv) > 2e-5*(1+math.Abs(wv)) {
						t.Errorf("%s on %s, %d steps, z = %g: %.7g, float64 reference %.7g", m.name, mean.Name, k, zv, got[e], wv)
					}
				}
			}
		}
	}
}

// runChain runs a sampler's plan from x_T = z with the exact x0 model, one graph per kind of
// step as the engine builds them, in float32.
func runChain(t *testing.T, backend backends.Backend, s plugins.Sampler, q *diffusion.Process,
	pred diffusion.Parameterization, g gaussian, z []float64) (ends []float64, nfe int) {
	t.Helper()
	n := len(z)
	invSqrtAB, shrink, sigma, sqrtAB, sqrt1mAB := make([]float64, q.T), make([]float64, q.T), make([]float64, q.T), make([]float64, q.T), make([]float64, q.T)
	for i := range q.T {
		sigma2 := (1 - q.AlphaBar[i]) / q.AlphaBar[i]
		invSqrtAB[i] = 1 / math.Sqrt(q.AlphaBar[i])
		shrink[i] = g.s2 / (g.s2 + sigma2)
		sigma[i] = math.Sqrt(sigma2)
		sqrtAB[i], sqrt1mAB[i] = math.Sqrt(q.AlphaBar[i]), math.Sqrt(1-q.AlphaBar[i])
	}
	d := &diffusion.Diffusion{Process: q, Parameterization: pred}
	calls := map[[2]bool]*int{}
	build := func(first, last bool) *Exec {
		count := new(int)
		calls[[2]bool{first, last}] = count
		return MustNewExec(backend, func(x, state, i *Node) []*Node {
			model := func(x, i *Node) *Node { // the exact model's output for the predictor's target
				*count++
				ext := func(v []float64) *Node { return diffusion.Extract(x.Graph(), v, i, x.Rank()) }
				xt := Mul(x, ext(invSqrtAB))
				x0 := AddScalar(Mul(AddScalar(xt, -g.mu), ext(shrink)), g.mu) // D(x~) = mu + shrink (x~ - mu)
				eps := Div(Sub(xt, x0), ext(sigma))
				switch pred.Mean.Name {
				case diffusion.MeanEps.Name:
					return eps
				case diffusion.MeanV.Name: // v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0
					return Sub(Mul(ext(sqrtAB), eps), Mul(ext(sqrt1mAB), x0))
				}
				return x0
			}
			next, st := s.Step(plugins.SamplerStep{Diffusion: d, Model: model, X: x, State: state, I: i,
				Noise: ZerosLike(x), First: first, Last: last})
			return []*Node{next, st}
		})
	}
	x := make([]float32, n) // x_T = z, in the chain's scaling
	for e, v := range z {
		x[e] = float32(v)
	}
	state := make([]float32, n)
	execs := map[[2]bool]*Exec{}
	for i := q.T - 1; i >= 0; i-- {
		kind := [2]bool{i == q.T-1, i == 0}
		if execs[kind] == nil {
			execs[kind] = build(kind[0], kind[1])
		}
		idx := make([]int32, n)
		for e := range idx {
			idx[e] = int32(i)
		}
		out := execs[kind].MustExec(tensors.FromFlatDataAndDimensions(x, n, 1), tensors.FromFlatDataAndDimensions(state, n, 1), idx)
		x, state = tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
		nfe += *calls[kind]
	}
	ends = make([]float64, n)
	for e, v := range x {
		ends[e] = float64(v)
	}
	return ends, nfe
}

// Euler's method and DDIM with eta = 0 are one update in two sets of variables; with the
// same model they agree to float32 rounding. NFE: K for both, and for DPM-Solver++(2M);
// 2K - 1 for Heun.
func TestEulerIsDDIMAndNFE(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	p := linearProcess(t)
	g := gaussian{0.5, 0.09}
	pred := diffusion.Parameterization{Mean: diffusion.MeanEps, Variance: diffusion.VarFixedSmall}
	z := []float64{-2, -0.5, 0, 0.7, 1.9}
	for _, k := range []int{1, 4, 25} {
		q, _, _ := Euler{Spaced{Steps: k}}.Plan(p)
		euler, nEuler := runChain(t, backend, Euler{Spaced{Steps: k}}, q, pred, g, z)
		ddim, nDDIM := runChain(t, backend, DDIM{Spaced: Spaced{Steps: k}}, q, pred, g, z)
		for e := range z {
			if math.Abs(euler[e]-ddim[e]) > 1e-5*(1+math.Abs(ddim[e])) {
				t.Errorf("%d steps, z = %g: euler %.7g, ddim %.7g", k, z[e], euler[e], ddim[e])
			}
		}
		_, nHeun := runChain(t, backend, Heun{Spaced{Steps: k}}, q, pred, g, z)
		_, nDPM := runChain(t, backend, DPMSolver2M{Spaced{Steps: k}}, q, pred, g, z)
		if nEuler != k || nDDIM != k || nDPM != k || nHeun != 2*k-1 {
			t.Errorf("%d steps: NFE euler %d, ddim %d, dpmpp_2m %d (want %d), heun %d (want %d)", k, nEuler, nDDIM, nDPM, k, nHeun, 2*k-1)
		}
	}
}
