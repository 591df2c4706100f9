package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/ddpm-runner/ddpm-runner/datasets"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// mmdReference is the unbiased squared MMD written out term by term.
func mmdReference(x, y [][]float64) float64 {
	k := func(a, b []float64) float64 {
		var dot float64
		for i := range a {
			dot += a[i] * b[i]
		}
		v := dot/float64(len(a)) + 1
		return v * v * v
	}
	m := float64(len(x))
	var xx, yy, xy float64
	for i := range x {
		for j := range x {
			if i != j {
				xx += k(x[i], x[j])
				yy += k(y[i], y[j])
			}
			xy += k(x[i], y[j])
		}
	}
	return xx/(m*(m-1)) + yy/(m*(m-1)) - 2*xy/(m*m)
}

func TestMMDMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var xs, ys [][]float64
	var fx, fy []float64
	for range 7 {
		var a, b []float64
		for range 5 {
			a = append(a, rng.NormFloat64())
			b = append(b, 0.5+rng.NormFloat64())
		}
		xs, ys = append(xs, a), append(ys, b)
		fx, fy = append(fx, a...), append(fy, b...)
	}
	got := mmdUnbiased(mat.NewDense(7, 5, fx), mat.NewDense(7, 5, fy), 5)
	if want := mmdReference(xs, ys); math.Abs(got-want) > 1e-12*math.Abs(want) {
		t.Errorf("MMD %.15g, term-by-term %.15g", got, want)
	}
}

// KID and precision/recall on MNIST, with the corruptions of TestFIDBehavesLikeFIDOnMNIST:
// KID between training and test data is near zero (it has no small-n bias), and KID rises
// and recall falls with every level of noise and of blur. Precision falls only at strong
// noise: blurred digits stay inside the data's manifold (precision even rises, as the
// samples collapse onto few typical shapes), which is what recall is there to catch.
func TestKIDAndPrecisionRecallOnMNIST(t *testing.T) {
	data, err := datasets.LoadMNIST("", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	n := 500
	test := data.HeldOut(2 * n)
	a, b := test[:n*784], test[n*784:]
	train := make([]float32, n*784)
	data.Train(7, 0, n, train)
	feats := func(x []float32) *mat.Dense {
		f, _, err := mnistFeatures(plugins.EvalInput{H: 28, W: 28, C: 1, Dim: 784, Samples: x, HeldOut: x, Train: x}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return f["samples"]
	}
	fa := feats(a)
	kid := func(x []float32) (float64, float64) { return KernelDistance(feats(x), fa, 10, n) }
	base, se := kid(train)
	t.Logf("KID(train, test) = %.5f ± %.5f", base, se)
	if math.Abs(base) > 4*se {
		t.Errorf("KID(train, test) = %.5f ± %.5f is not within 4 standard errors of zero", base, se)
	}
	p0, r0 := ManifoldPrecisionRecall(fa, feats(b), 3)
	t.Logf("precision/recall of test against test: %.3f %.3f", p0, r0)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		name   string
		levels []func([]float32) []float32
	}{
		{"gaussian noise", []func([]float32) []float32{
			func(x []float32) []float32 { return noisy(x, 0.25, rng) },
			func(x []float32) []float32 { return noisy(x, 0.5, rng) },
			func(x []float32) []float32 { return noisy(x, 1.0, rng) },
		}},
		{"blur", []func([]float32) []float32{
			func(x []float32) []float32 { return blur(x, 1) },
			func(x []float32) []float32 { return blur(x, 3) },
			func(x []float32) []float32 { return blur(x, 8) },
		}},
	} {
		prevKID, prevR, lastP := base, r0, 0.0
		for i, corrupt := range c.levels {
			x := corrupt(b)
			k, _ := kid(x)
			p, r := ManifoldPrecisionRecall(fa, feats(x), 3)
			t.Logf("%s level %d: KID %.4f, precision %.3f, recall %.3f", c.name, i+1, k, p, r)
			if k <= prevKID {
				t.Errorf("%s level %d: KID %.4f does not rise above %.4f", c.name, i+1, k, prevKID)
			}
			if r >= prevR {
				t.Errorf("%s level %d: recall %.3f does not fall below %.3f", c.name, i+1, r, prevR)
			}
			prevKID, prevR, lastP = k, r, p
		}
		if c.name == "gaussian noise" && lastP >= p0 {
			t.Errorf("strongest noise: precision %.3f, clean %.3f", lastP, p0)
		}
	}
}
