// Package metrics holds the metric plugins run after training on the EMA weights: the
// likelihood bound (nll) and distances between samples and held-out data for
// low-dimensional data (frechet, mmd, chamfer). Statistics use gonum.
package metrics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// NLL is the full variational bound on held-out data: nats/dim for continuous data,
// bits/dim for 8-bit data, with its breakdown into the prior term, the sum of the L_t terms
// and the decoder term.
type NLL struct{}

// Evaluate implements plugins.Metric.
func (NLL) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	if in.Bound == nil {
		return plugins.EvalResult{}, fmt.Errorf("nll needs the model's bound")
	}
	prior, terms, decoder, err := in.Bound(in.HeldOut)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	unit, scale := "nats_per_dim", 1.0
	if in.Discrete {
		unit, scale = "bits_per_dim", 1/math.Ln2
	}
	return plugins.EvalResult{Values: map[string]float64{
		"nll_" + unit:         (prior + terms + decoder) * scale,
		"nll_prior_" + unit:   prior * scale,
		"nll_terms_" + unit:   terms * scale,
		"nll_decoder_" + unit: decoder * scale,
	}}, nil
}

// toDense views n*dim values as an n x dim matrix in float64.
func toDense(x []float32, dim int) *mat.Dense {
	n := len(x) / dim
	data := make([]float64, len(x))
	for i, v := range x {
		data[i] = float64(v)
	}
	return mat.NewDense(n, dim, data)
}

// Frechet is the Fréchet distance between Gaussians fitted to a and b (each n x dim):
// ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2}).
func Frechet(a, b []float32, dim int) (float64, error) {
	return FeatureFrechet(toDense(a, dim), toDense(b, dim))
}

// frechetFromStats is the Fréchet distance of two fitted Gaussians (FrechetDistance).
func frechetFromStats(muA []float64, covA *mat.SymDense, muB []float64, covB *mat.SymDense) (float64, error) {
	d, _, err := FrechetDistance(muA, covA, muB, covB)
	return d, err
}

func meanCov(m *mat.Dense) ([]float64, *mat.SymDense) {
	_, c := m.Dims()
	mu := make([]float64, c)
	for j := range c {
		mu[j] = stat.Mean(mat.Col(nil, j, m), nil)
	}
	cov := mat.NewSymDense(c, nil)
	stat.CovarianceMatrix(cov, m, nil)
	return mu, cov
}

// SqrtPSD is the principal square root of a symmetric positive semi-definite matrix through
// its eigendecomposition; tiny negative eigenvalues from rounding are clamped to zero.
func SqrtPSD(s mat.Symmetric) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, fmt.Errorf("eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	n := len(vals)
	d := mat.NewDiagDense(n, nil)
	for i, v := range vals {
		d.SetDiag(i, math.Sqrt(math.Max(v, 0)))
	}
	var out mat.Dense
	out.Mul(&vecs, d)
	out.Mul(&out, vecs.T())
	return &out, nil
}

// MMD is the (biased) squared maximum mean discrepancy between a and b with the RBF kernel
// k(x, y) = exp(-||x - y||^2 / (2 bandwidth^2)).
func MMD(a, b []float32, dim int, bandwidth float64) float64 {
	k := func(x, y []float32) float64 {
		var d2 float64
		for i := range x {
			d := float64(x[i] - y[i])
			d2 += d * d
		}
		return math.Exp(-d2 / (2 * bandwidth * bandwidth))
	}
	mean := func(x, y []float32) float64 {
		var s float64
		nx, ny := len(x)/dim, len(y)/dim
		for i := range nx {
			for j := range ny {
				s += k(x[i*dim:(i+1)*dim], y[j*dim:(j+1)*dim])
			}
		}
		return s / float64(nx*ny)
	}
	return mean(a, a) + mean(b, b) - 2*mean(a, b)
}

// Chamfer is the symmetric Chamfer distance: the mean distance from each point of a to its
// nearest point of b, plus the same from b to a.
func Chamfer(a, b []float32, dim int) float64 {
	oneWay := func(x, y []float32) float64 {
		var s float64
		for i := 0; i < len(x); i += dim {
			best := math.Inf(1)
			for j := 0; j < len(y); j += dim {
				var d2 float64
				for k := range dim {
					d := float64(x[i+k] - y[j+k])
					d2 += d * d
				}
				best = math.Min(best, d2)
			}
			s += math.Sqrt(best)
		}
		return s / float64(len(x)/dim)
	}
	return oneWay(a, b) + oneWay(b, a)
}

// sampleDistances compares samples with held-out data, and (as the floor a perfect model
// would reach at this sample size) training data with held-out data.
type sampleDistances struct {
	name string
	fn   func(a, b []float32, dim int) (float64, error)
}

// Evaluate implements plugins.Metric.
func (m sampleDistances) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	n := min(len(in.Samples), len(in.HeldOut))
	v, err := m.fn(in.Samples[:n], in.HeldOut[:n], in.Dim)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	floor, err := m.fn(in.Train[:n], in.HeldOut[:n], in.Dim)
	if err != nil {
		return plugins.EvalResult{}, err
	}
	return plugins.EvalResult{Values: map[string]float64{m.name: v, m.name + "_data_floor": floor}}, nil
}

// MMDBandwidth is the RBF bandwidth of the mmd metric, in data units (the toy sets span
// about [-2, 2]).
const MMDBandwidth = 0.5

// nllReports declares the bound in both units (the data decide which is reported): values of
// the weights alone, the whole bound being the mean of the per-example bound the engine
// records.
func nllReports() []plugins.Report {
	var out []plugins.Report
	for _, u := range []struct {
		key, unit, data string
		perNat          float64
	}{
		{"bits_per_dim", "bits/dim", "8-bit data", 1 / math.Ln2}, {"nats_per_dim", "nats/dim", "continuous data", 1},
	} {
		out = append(out,
			plugins.Report{Key: "nll_" + u.key, Better: plugins.LowerIsBetter, Unit: u.unit, From: plugins.FromWeights,
				PerExampleBound: u.perNat, Doc: "negative log-likelihood bound on held-out " + u.data},
			plugins.Report{Key: "nll_prior_" + u.key, Unit: u.unit, From: plugins.FromWeights, Doc: "prior term L_T of the bound"},
			plugins.Report{Key: "nll_terms_" + u.key, Better: plugins.LowerIsBetter, Unit: u.unit, From: plugins.FromWeights, Doc: "sum of the L_t terms, 1 <= t < T"},
			plugins.Report{Key: "nll_decoder_" + u.key, Better: plugins.LowerIsBetter, Unit: u.unit, From: plugins.FromWeights, Doc: "decoder term L_0"})
	}
	return out
}

// distanceReports declares a distance between samples and held-out data, and its data floor.
func distanceReports(key, what, unit string) []plugins.Report {
	return []plugins.Report{
		{Key: key, Better: plugins.LowerIsBetter, Unit: unit, From: plugins.FromSamples, Doc: what + " between samples and held-out data"},
		{Key: key + "_data_floor", Unit: unit, From: plugins.FromSamples, Doc: what + " between training and held-out data: what a perfect model would reach"},
	}
}

func init() {
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "nll",
		Doc:     "variational bound on held-out data over all T steps (bits/dim for 8-bit data, nats/dim otherwise) with its prior/terms/decoder breakdown",
		Reports: nllReports(),
		New:     func(plugins.Values) (plugins.Metric, error) { return NLL{}, nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "frechet",
		Doc:     "Fréchet distance between Gaussians fitted to samples and held-out data (raw coordinates)",
		Reports: distanceReports("frechet", "Fréchet distance", "squared data units"),
		New:     func(plugins.Values) (plugins.Metric, error) { return sampleDistances{"frechet", Frechet}, nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "mmd",
		Doc:     fmt.Sprintf("squared MMD between samples and held-out data, RBF kernel with bandwidth %g", MMDBandwidth),
		Reports: distanceReports("mmd", "squared MMD", "squared kernel distance"),
		New: func(plugins.Values) (plugins.Metric, error) {
			return sampleDistances{"mmd", func(a, b []float32, d int) (float64, error) { return MMD(a, b, d, MMDBandwidth), nil }}, nil
		}})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "chamfer",
		Doc:     "symmetric Chamfer distance between samples and held-out data",
		Reports: distanceReports("chamfer", "symmetric Chamfer distance", "data units"),
		New: func(plugins.Values) (plugins.Metric, error) {
			return sampleDistances{"chamfer", func(a, b []float32, d int) (float64, error) { return Chamfer(a, b, d), nil }}, nil
		}})
}
