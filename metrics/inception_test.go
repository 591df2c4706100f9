package metrics

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/featurizer/inception"
	"github.com/ddpm-runner/ddpm-runner/interop/npy"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// fixtureWeights are featurizer/inception's seeded random weights: the real network's shapes.
const fixtureWeights = "../featurizer/inception/testdata/weights.pth"

// noWeightsHere makes sure no Inception weights are found but those a test names.
func noWeightsHere(t *testing.T) {
	t.Setenv(inception.WeightsEnv, "")
	t.Setenv("TORCH_HOME", t.TempDir())
}

// TestPrepareFeatures: eval.featurizer's default keeps the shipped classifier for MNIST-shaped
// data (and for data that are not images) without looking for the Inception weights, chooses
// the Inception for other images, and every refusal names what is wrong.
func TestPrepareFeatures(t *testing.T) {
	if backend.DefaultKernel.Resolved() == backend.StockKernel {
		t.Skipf("$%s turns the fast kernels off: the Inception's forward passes take minutes each (TestFeaturesMatchPytorchFID checks the network on the stock kernels)", backend.KernelEnvVar)
	}
	noWeightsHere(t)
	bad := filepath.Join(t.TempDir(), "stats64.npz")
	if err := npy.WriteFIDStats(bad, npy.FIDStats{Mu: make([]float64, 64), Sigma: make([]float64, 64*64)}); err != nil {
		t.Fatal(err)
	}
	mnist := plugins.MetricSetup{H: 28, W: 28, C: 1}
	cifar := plugins.MetricSetup{H: 32, W: 32, C: 3, Inception: fixtureWeights}
	with := func(s plugins.MetricSetup, f func(*plugins.MetricSetup)) plugins.MetricSetup { f(&s); return s }
	for _, tc := range []struct {
		name      string
		setup     plugins.MetricSetup
		force     bool
		inception bool
		err       string
	}{
		{"default, MNIST", mnist, false, false, ""},
		{"default, 14x14 MNIST", plugins.MetricSetup{H: 14, W: 14, C: 1}, false, false, ""},
		{"default, not images", plugins.MetricSetup{}, false, false, ""},
		{"default, RGB", cifar, false, true, ""},
		{"auto, RGB", with(cifar, func(s *plugins.MetricSetup) { s.Featurizer = "auto" }), false, true, ""},
		{"classifier, MNIST", with(mnist, func(s *plugins.MetricSetup) { s.Featurizer = "classifier" }), false, false, ""},
		{"inception, MNIST", with(mnist, func(s *plugins.MetricSetup) { s.Featurizer = "inception"; s.Inception = fixtureWeights }), false, true, ""},
		{"inception_* on MNIST", with(mnist, func(s *plugins.MetricSetup) { s.Inception = fixtureWeights }), true, true, ""},
		{"classifier, RGB", with(cifar, func(s *plugins.MetricSetup) { s.Featurizer = "classifier" }), false, false, `featurizer = "classifier"`},
		{"RGB without weights", with(cifar, func(s *plugins.MetricSetup) { s.Inception = "" }), false, false, inception.WeightsFile},
		{"weights file missing", with(cifar, func(s *plugins.MetricSetup) { s.Inception = "/nonexistent/w.pth" }), false, false, "/nonexistent/w.pth: no such file"},
		{"inception_* on non-images", plugins.MetricSetup{Inception: fixtureWeights}, true, false, "not images"},
		{"four channels", plugins.MetricSetup{H: 8, W: 8, C: 4, Inception: fixtureWeights}, false, false, "4 channels"},
		{"unknown split", with(cifar, func(s *plugins.MetricSetup) { s.ReferenceSplit = "val" }), false, false, `reference_split = "val"`},
		{"reference of 64 features", with(cifar, func(s *plugins.MetricSetup) { s.Reference = bad }), false, false, "statistics of 64 features"},
		{"reference missing", with(cifar, func(s *plugins.MetricSetup) { s.Reference = "/nonexistent/ref.npz" }), false, false, "/nonexistent/ref.npz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := prepareFeatures(tc.setup, tc.force)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c != nil) != tc.inception {
				t.Fatalf("inception chosen: %v, want %v", c != nil, tc.inception)
			}
		})
	}
}

// TestMNISTFidUnchangedByPrepare: the engine prepares fid, is and kid on MNIST-shaped data
// with the default eval.featurizer; their values are those of the classifier metrics as
// they were before eval.featurizer existed, bit for bit, and no weights are looked for.
func TestMNISTFidUnchangedByPrepare(t *testing.T) {
	noWeightsHere(t)
	rng := rand.New(rand.NewPCG(3, 4))
	images := func(n int) []float32 {
		x := make([]float32, n*784)
		for i := range x {
			x[i] = float32(rng.Float64()*2 - 1)
		}
		return x
	}
	in := plugins.EvalInput{Dim: 784, Discrete: true, H: 28, W: 28, C: 1, Samples: images(30), HeldOut: images(30), Train: images(30)}
	for _, pair := range []struct {
		plain    plugins.Metric
		prepared interface {
			plugins.Metric
			plugins.PreparedMetric
		}
	}{{FID{}, &FID{}}, {IS{}, &IS{}}, {KID{}, &KID{}}, {PrecisionRecall{}, &PrecisionRecall{}}} {
		if err := pair.prepared.Prepare(plugins.MetricSetup{Featurizer: "auto", ReferenceSplit: "train", H: 28, W: 28, C: 1}); err != nil {
			t.Fatal(err)
		}
		a, err := pair.plain.Evaluate(in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pair.prepared.Evaluate(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Values) == 0 || len(a.Values) != len(b.Values) || a.Notes["featurizer"] != "mnist_mlp@5c4dc1d7a425" || b.Notes["featurizer"] != a.Notes["featurizer"] {
			t.Fatalf("%T: values %v and %v, notes %v and %v", pair.plain, a.Values, b.Values, a.Notes, b.Notes)
		}
		for k, v := range a.Values {
			if math.Float64bits(b.Values[k]) != math.Float64bits(v) {
				t.Errorf("%T %s: %v prepared, %v as before", pair.plain, k, b.Values[k], v)
			}
		}
	}
}

// rgbSet is n smooth random RGB images of side 8, as 8-bit data scaled to [-1, 1].
func rgbSet(rng *rand.Rand, n int, shift float64) []float32 {
	const side = 8
	x := make([]float32, n*side*side*3)
	for i := range n {
		base := [3]float64{rng.Float64(), rng.Float64(), rng.Float64()}
		for p := range side * side {
			for ch := range 3 {
				v := math.Min(1, math.Max(0, 0.6*base[ch]+0.4*rng.Float64()+shift))
				x[(i*side*side+p)*3+ch] = float32(math.Round(v*255))/127.5 - 1
			}
		}
	}
	return x
}

// independentFeatures runs the images through the network one call for the whole set (no
// streaming, no statistics) as bytes -> [0, 1] with the given conversion.
func independentFeatures(t *testing.T, net *inception.Net, x []float32, toByte func(float32) uint8) (pool, spatial []float32) {
	t.Helper()
	n := len(x) / (8 * 8 * 3)
	img := make([]float32, len(x))
	for i, v := range x {
		img[i] = float32(toByte(v)) / 255
	}
	pre, err := inception.Preprocess(img, n, 8, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.Forward(pre, n, inception.Pool3|inception.Spatial)
	if err != nil {
		t.Fatal(err)
	}
	return out[inception.Pool3], out[inception.Spatial]
}

// directIS is improved-gan's inception_score on the unbiased logits, written out: the softmax
// of every image, splits of n/10, each split's mean KL to its marginal, exp, mean and numpy's
// std over the splits.
func directIS(logits []float64, n int) (mean, std float64) {
	p := mat.NewDense(n, inception.Logits, nil)
	for i := range n {
		row := logits[i*inception.Logits : (i+1)*inception.Logits]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - m)
		}
		for j, v := range row {
			p.Set(i, j, math.Exp(v-m)/s)
		}
	}
	splits := min(10, n)
	var scores []float64
	for k := range splits {
		lo, hi := k*n/splits, (k+1)*n/splits
		marg := make([]float64, inception.Logits)
		for i := lo; i < hi; i++ {
			for j := range marg {
				marg[j] += p.At(i, j) / float64(hi-lo)
			}
		}
		var kl float64
		for i := lo; i < hi; i++ {
			for j := range marg {
				if v := p.At(i, j); v > 0 {
					kl += v * (math.Log(v) - math.Log(marg[j]))
				}
			}
		}
		scores = append(scores, math.Exp(kl/float64(hi-lo)))
	}
	return meanStd(scores)
}

func relClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestInceptionMetrics runs the Inception metrics on a handful of small RGB images with the
// fixture weights and checks each against the same quantity computed independently from the
// network's features of whole sets (gonum's covariance, the Inception Score written out):
// FID and spatial FID, their floors, IS, KID and precision/recall; fid on RGB data equals
// inception_fid; the reference split's summary is kept in the cache folder and read back to
// the same values; a pytorch-fid .npz as eval.reference gives the FID against it.
//
// The sets are a few examples, so every covariance has rank below 16: the trace of the
// square root is taken in a basis of the covariances' ranges (lowRankTraceSqrt), the same
// number at a fraction of the 2048 x 2048 eigendecompositions' cost.
func TestInceptionMetrics(t *testing.T) {
	if backend.DefaultKernel.Resolved() == backend.StockKernel {
		t.Skipf("$%s turns the fast kernels off: the Inception's forward passes take minutes each (TestFeaturesMatchPytorchFID checks the network on the stock kernels)", backend.KernelEnvVar)
	}
	noWeightsHere(t)
	saved := traceSqrtProductFn
	traceSqrtProductFn = lowRankTraceSqrt
	t.Cleanup(func() { traceSqrtProductFn = saved })
	b, err := backend.New(backend.Choice{Config: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	rng := rand.New(rand.NewPCG(7, 8))
	cache := filepath.Join(t.TempDir(), "reference-stats")
	in := plugins.EvalInput{Dim: 192, Discrete: true, H: 8, W: 8, C: 3, Backend: b.GoMLX(), CacheDir: cache,
		Samples: rgbSet(rng, 12, 0.1), Train: rgbSet(rng, 5, 0), HeldOut: rgbSet(rng, 5, 0)}
	setup := plugins.MetricSetup{H: 8, W: 8, C: 3, Inception: fixtureWeights}
	results := map[string]plugins.EvalResult{}
	for _, name := range []string{"inception_fid", "inception_sfid", "inception_is", "inception_kid", "inception_pr", "fid"} {
		p, err := plugins.Lookup(plugins.KindMetric, name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.(plugins.PreparedMetric).Prepare(setup); err != nil {
			t.Fatal(err)
		}
		res, err := m.(plugins.Metric).Evaluate(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for k := range res.Values {
			if !p.Declares(k) {
				t.Errorf("%s reports %s, which it does not declare", name, k)
			}
		}
		if !strings.HasPrefix(res.Notes["featurizer"], "fid_inception_v3@") || !strings.HasPrefix(res.Notes["reference"], "train split, 5 examples") {
			t.Errorf("%s notes %v", name, res.Notes)
		}
		results[name] = res
	}
	w, err := inception.Load(fixtureWeights)
	if err != nil {
		t.Fatal(err)
	}
	net := inception.New(b.GoMLX(), w)
	defer net.Finalize()
	sp, ss := independentFeatures(t, net, in.Samples, npy.SamplePixel)
	tp, ts := independentFeatures(t, net, in.Train, npy.DataPixel)
	hp, hs := independentFeatures(t, net, in.HeldOut, npy.DataPixel)
	fd := func(a, b []float32, d int) float64 {
		v, err := FeatureFrechet(toDense(a, d), toDense(b, d))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	is, isStd := directIS(w.UnbiasedLogits(sp), 12)
	isData, _ := directIS(w.UnbiasedLogits(tp), 5)
	kid, kidSE := KernelDistance(toDense(sp, 2048), toDense(tp, 2048), kidSubsets, kidSubsetSize)
	prec, rec := ManifoldPrecisionRecall(toDense(tp, 2048), toDense(sp, 2048), precisionRecallK)
	precF, _ := ManifoldPrecisionRecall(toDense(tp, 2048), toDense(hp, 2048), precisionRecallK)
	for _, c := range []struct {
		metric, key string
		want, tol   float64
	}{
		{"inception_fid", "inception_fid", fd(sp, tp, 2048), 1e-6},
		{"inception_fid", "inception_fid_data_floor", fd(hp, tp, 2048), 1e-6},
		{"fid", "fid", fd(sp, tp, 2048), 1e-6},
		{"inception_sfid", "inception_sfid", fd(ss, ts, 2023), 1e-6},
		{"inception_sfid", "inception_sfid_data_floor", fd(hs, ts, 2023), 1e-6},
		{"inception_is", "inception_is", is, 1e-9},
		{"inception_is", "inception_is_std", isStd, 1e-9},
		{"inception_is", "inception_is_data", isData, 1e-9},
		{"inception_kid", "inception_kid", kid, 1e-9},
		{"inception_kid", "inception_kid_se", kidSE, 1e-9},
		{"inception_pr", "inception_precision", prec, 0},
		{"inception_pr", "inception_recall", rec, 0},
		{"inception_pr", "inception_precision_data_floor", precF, 0},
	} {
		got, ok := results[c.metric].Values[c.key]
		if !ok || !relClose(got, c.want, c.tol) {
			t.Errorf("%s: %v, computed directly %v (tolerance %g relative)", c.key, got, c.want, c.tol)
		}
	}
	if is <= 1 || isStd <= 0 {
		t.Errorf("inception score %v +- %v: the test's sets are too alike to check it", is, isStd)
	}
	// The cache: one summary per split, readable as pytorch-fid statistics; a fresh process
	// (the memo emptied) reads them back to the same values.
	files, _ := filepath.Glob(filepath.Join(cache, "inception-*.npz"))
	if len(files) != 2 {
		t.Fatalf("cache holds %v, want the train and test splits' summaries", files)
	}
	if st, err := npy.ReadFIDStats(files[0]); err != nil || st.Dim() != 2048 {
		t.Fatalf("a cached summary as pytorch-fid statistics: %v, %d features", err, st.Dim())
	}
	memo.Lock()
	memo.refs = map[string]*summary{}
	memo.Unlock()
	m := &inceptionMetric{kind: "fid"}
	if err := m.Prepare(setup); err != nil {
		t.Fatal(err)
	}
	again, err := m.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if again.Values["inception_fid"] != results["inception_fid"].Values["inception_fid"] {
		t.Errorf("from the cache: %v, computed %v", again.Values["inception_fid"], results["inception_fid"].Values["inception_fid"])
	}
	// eval.reference: the FID against a statistics file (here the training set's).
	ref := filepath.Join(t.TempDir(), "ref.npz")
	tm, tc := meanCov(toDense(tp, 2048))
	sigma := make([]float64, 2048*2048)
	for i := range 2048 {
		for j := range 2048 {
			sigma[i*2048+j] = tc.At(i, j)
		}
	}
	if err := npy.WriteFIDStats(ref, npy.FIDStats{Mu: tm, Sigma: sigma}); err != nil {
		t.Fatal(err)
	}
	withRef := setup
	withRef.Reference = ref
	if err := m.Prepare(withRef); err != nil {
		t.Fatal(err)
	}
	res, err := m.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Values["inception_fid"]; !relClose(v, fd(sp, tp, 2048), 1e-6) || !strings.HasPrefix(res.Notes["reference"], "file ref.npz") {
		t.Errorf("against %s: %v (notes %v), want %v", ref, v, res.Notes, fd(sp, tp, 2048))
	}
	sfid := &inceptionMetric{kind: "sfid"}
	if err := sfid.Prepare(withRef); err == nil || !strings.Contains(err.Error(), "mu_s") {
		t.Errorf("inception_sfid against a file without spatial statistics: %v", err)
	}
	if _, err := os.Stat(cache); err != nil {
		t.Fatal(err)
	}
}

// lowRankTraceSqrt is traceSqrtProductSym for covariances of rank below lowRank: both are
// projected onto an orthonormal basis of their ranges (the range of each times a random
// matrix, orthonormalised), where tr((S1 S2)^{1/2}) is the same, then handed to
// traceSqrtProductSym at that size.
func lowRankTraceSqrt(a, b *mat.SymDense) (float64, error) {
	const lowRank = 16
	d := a.SymmetricDim()
	rng := rand.New(rand.NewPCG(11, 12))
	omega := mat.NewDense(d, lowRank, nil)
	for i := range d {
		for j := range lowRank {
			omega.Set(i, j, rng.NormFloat64())
		}
	}
	var ya, yb mat.Dense
	ya.Mul(a, omega)
	yb.Mul(b, omega)
	var cols [][]float64
	for _, y := range []*mat.Dense{&ya, &yb} {
		for j := range lowRank {
			v := mat.Col(nil, j, y)
			for range 2 { // Gram-Schmidt twice, for orthogonality to rounding
				for _, q := range cols {
					dot := 0.0
					for i := range v {
						dot += v[i] * q[i]
					}
					for i := range v {
						v[i] -= dot * q[i]
					}
				}
			}
			norm := 0.0
			for _, x := range v {
				norm += x * x
			}
			if norm = math.Sqrt(norm); norm > 1e-9*math.Max(1, mat.Norm(y, 2)) {
				for i := range v {
					v[i] /= norm
				}
				cols = append(cols, v)
			}
		}
	}
	q := mat.NewDense(d, len(cols), nil)
	for j, c := range cols {
		q.SetCol(j, c)
	}
	project := func(s *mat.SymDense) *mat.SymDense {
		var t, p mat.Dense
		t.Mul(s, q)
		p.Mul(q.T(), &t)
		k := len(cols)
		out := mat.NewSymDense(k, nil)
		for i := range k {
			for j := i; j < k; j++ {
				out.SetSym(i, j, (p.At(i, j)+p.At(j, i))/2)
			}
		}
		return out
	}
	return traceSqrtProductSym(project(a), project(b))
}
