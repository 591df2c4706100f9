package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// KID is the Kernel Inception Distance (Binkowski et al. 2018) on the data's classifier's
// features: the unbiased estimate of the squared MMD between samples and held-out data under
// the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets, with the
// standard error of that mean. Unlike the FID it has no bias at small n: two halves of one
// set give about 0 whatever n. On the Inception it is inception_kid's value.
type KID struct{ features }

// kidSubsets is how many random subsets the KID is averaged over; kidSubsetSize caps their size.
const (
	kidSubsets    = 20
	kidSubsetSize = 1000
)

// Evaluate implements plugins.Metric.
func (m KID) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	if m.inc != nil {
		return m.inc.kid(in, "")
	}
	feats, id, err := mnistFeatures(in, "kid")
	if err != nil {
		return plugins.EvalResult{}, err
	}
	kid, se := KernelDistance(feats["samples"], feats["held"], kidSubsets, kidSubsetSize)
	floor, _ := KernelDistance(feats["train"], feats["held"], kidSubsets, kidSubsetSize)
	return plugins.EvalResult{
		Values: map[string]float64{"kid": kid, "kid_se": se, "kid_data_floor": floor},
		Notes:  map[string]string{"featurizer": id},
	}, nil
}

// KernelDistance is the unbiased squared MMD of a and b (rows are feature vectors) under the
// cubic polynomial kernel, averaged over subsets random subsets of size min(n_a, n_b)/2, at
// most size (a fixed stream, so the same sets give the same value), and the standard error
// of that mean. Half the rows, so that the subsets differ and their spread means something.
func KernelDistance(a, b *mat.Dense, subsets, size int) (mean, se float64) {
	na, d := a.Dims()
	nb, _ := b.Dims()
	m := max(min(na, nb)/2, 2)
	m = min(m, size)
	rng := rand.New(rand.NewPCG(0x6b1d, 0))
	vals := make([]float64, subsets)
	for s := range vals {
		ia, ib := rng.Perm(na)[:m], rng.Perm(nb)[:m]
		vals[s] = mmdUnbiased(rowsOf(a, ia), rowsOf(b, ib), d)
	}
	for _, v := range vals {
		mean += v / float64(subsets)
	}
	var ss float64
	for _, v := range vals {
		ss += (v - mean) * (v - mean)
	}
	if subsets > 1 {
		se = math.Sqrt(ss / float64(subsets-1) / float64(subsets))
	}
	return mean, se
}

func rowsOf(x *mat.Dense, idx []int) *mat.Dense {
	_, d := x.Dims()
	out := mat.NewDense(len(idx), d, nil)
	for i, r := range idx {
		out.SetRow(i, x.RawRowView(r))
	}
	return out
}

// mmdUnbiased is (sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1))
// - 2 sum_{i, j} k(x_i, y_j) / m^2 for m rows each, k(x, y) = (x.y/d + 1)^3.
func mmdUnbiased(x, y *mat.Dense, d int) float64 {
	m, _ := x.Dims()
	kernel := func(p, q *mat.Dense) *mat.Dense {
		var g mat.Dense
		g.Mul(p, q.T())
		g.Apply(func(_, _ int, v float64) float64 { v = v/float64(d) + 1; return v * v * v }, &g)
		return &g
	}
	offDiagonal := func(g *mat.Dense) float64 {
		var s float64
		for i := range m {
			for j := range m {
				if i != j {
					s += g.At(i, j)
				}
			}
		}
		return s
	}
	kxy := kernel(x, y)
	var cross float64
	for i := range m {
		for j := range m {
			cross += kxy.At(i, j)
		}
	}
	mm := float64(m)
	return (offDiagonal(kernel(x, x))+offDiagonal(kernel(y, y)))/(mm*(mm-1)) - 2*cross/(mm*mm)
}

// PrecisionRecall is improved precision and recall (Kynkäänniemi et al. 2019, k = 3) on the
// data's classifier's features: precision is the share of samples inside the real data's
// manifold (within the distance of some held-out example to its k-th nearest held-out
// neighbour), recall the share of held-out examples inside the samples' manifold. On the
// Inception it is inception_pr's values.
type PrecisionRecall struct{ features }

// precisionRecallK is the neighbour that sets each point's radius (the paper's k = 3).
const precisionRecallK = 3

// Evaluate implements plugins.Metric.
func (m PrecisionRecall) Evaluate(in plugins.EvalInput) (plugins.EvalResult, error) {
	if m.inc != nil {
		return m.inc.precisionRecall(in, "")
	}
	feats, id, err := mnistFeatures(in, "precision_recall")
	if err != nil {
		return plugins.EvalResult{}, err
	}
	p, r := ManifoldPrecisionRecall(feats["held"], feats["samples"], precisionRecallK)
	pf, rf := ManifoldPrecisionRecall(feats["held"], feats["train"], precisionRecallK)
	return plugins.EvalResult{
		Values: map[string]float64{"precision": p, "recall": r, "precision_data_floor": pf, "recall_data_floor": rf},
		Notes:  map[string]string{"featurizer": id},
	}, nil
}

// ManifoldPrecisionRecall returns the share of fake rows inside the real rows' k-NN balls
// and the share of real rows inside the fake rows' k-NN balls.
func ManifoldPrecisionRecall(real, fake *mat.Dense, k int) (precision, recall float64) {
	rr, ff, rf := sqDistances(real, real), sqDistances(fake, fake), sqDistances(real, fake)
	radii := func(self *mat.Dense) []float64 {
		n, _ := self.Dims()
		out := make([]float64, n)
		for i := range n {
			row := slices.Clone(self.RawRowView(i))
			slices.Sort(row) // row[0] is the point itself (0)
			out[i] = row[min(k, n-1)]
		}
		return out
	}
	realR, fakeR := radii(rr), radii(ff)
	nr, nf := rf.Dims()
	inside := 0
	for j := range nf {
		for i := range nr {
			if rf.At(i, j) <= realR[i] {
				inside++
				break
			}
		}
	}
	precision = float64(inside) / float64(nf)
	inside = 0
	for i := range nr {
		for j := range nf {
			if rf.At(i, j) <= fakeR[j] {
				inside++
				break
			}
		}
	}
	return precision, float64(inside) / float64(nr)
}

// sqDistances is the matrix of squared Euclidean distances between the rows of a and of b.
func sqDistances(a, b *mat.Dense) *mat.Dense {
	na, _ := a.Dims()
	nb, _ := b.Dims()
	var g mat.Dense
	g.Mul(a, b.T())
	out := mat.NewDense(na, nb, nil)
	na2, nb2 := rowNorms(a), rowNorms(b)
	for i := range na {
		for j := range nb {
			out.Set(i, j, math.Max(0, na2[i]+nb2[j]-2*g.At(i, j)))
		}
	}
	return out
}

func rowNorms(x *mat.Dense) []float64 {
	n, _ := x.Dims()
	out := make([]float64, n)
	for i := range n {
		for _, v := range x.RawRowView(i) {
			out[i] += v * v
		}
	}
	return out
}

// mnistFeatures returns the data's classifier's features of the samples, held-out data and
// training data of an evaluation, and the featurizer's id.
func mnistFeatures(in plugins.EvalInput, metric string) (map[string]*mat.Dense, string, error) {
	model, err := classifier(in)
	if err != nil {
		return nil, "", err
	}
	feats := map[string]*mat.Dense{}
	for name, x := range map[string][]float32{"samples": in.Samples, "held": in.HeldOut, "train": in.Train} {
		img, err := toMNIST(in, x)
		if err != nil {
			return nil, "", fmt.Errorf("%s %v", metric, err)
		}
		f, _ := model.Forward(img)
		feats[name] = f
	}
	return feats, model.ID(), nil
}

func init() {
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "kid",
		Doc: "Kernel Inception Distance: unbiased cubic-kernel MMD^2 of classifier features (MNIST's; Fashion-MNIST's on Fashion-MNIST), mean and standard error over subsets; on other images (eval.featurizer) inception_kid",
		Reports: append(distanceReports("kid", "KID (unbiased squared MMD of classifier features)", "squared kernel units"),
			plugins.Report{Key: "kid_se", Unit: "squared kernel units", From: plugins.FromSamples, Doc: "standard error of the KID over its random subsets"}),
		New: func(plugins.Values) (plugins.Metric, error) { return &KID{}, nil }})
	plugins.Register(plugins.Plugin{Kind: plugins.KindMetric, Name: "precision_recall",
		Doc: "improved precision and recall (Kynkäänniemi et al. 2019, k = 3) of classifier features (MNIST's; Fashion-MNIST's on Fashion-MNIST); on other images (eval.featurizer) inception_pr",
		Reports: []plugins.Report{
			{Key: "precision", Better: plugins.HigherIsBetter, Unit: "fraction", From: plugins.FromSamples, Doc: "share of samples inside the held-out data's k-NN manifold"},
			{Key: "recall", Better: plugins.HigherIsBetter, Unit: "fraction", From: plugins.FromSamples, Doc: "share of held-out data inside the samples' k-NN manifold"},
			{Key: "precision_data_floor", Unit: "fraction", From: plugins.FromSamples, Doc: "precision of training data against held-out data"},
			{Key: "recall_data_floor", Unit: "fraction", From: plugins.FromSamples, Doc: "recall of training data against held-out data"},
		},
		New: func(plugins.Values) (plugins.Metric, error) { return &PrecisionRecall{}, nil }})
}
