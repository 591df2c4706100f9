package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/datasets"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// blur applies a 3x3 box blur k times to 28x28 images in [-1, 1].
func blur(x []float32, k int) []float32 {
	out := append([]float32(nil), x...)
	for range k {
		src := append([]float32(nil), out...)
		for i := 0; i < len(out); i += 784 {
			for y := range 28 {
				for xx := range 28 {
					var s float32
					var c float32
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							yy, xxx := y+dy, xx+dx
							if yy >= 0 && yy < 28 && xxx >= 0 && xxx < 28 {
								s += src[i+yy*28+xxx]
								c++
							}
						}
					}
					out[i+y*28+xx] = s / c
				}
			}
		}
	}
	return out
}

func noisy(x []float32, sd float64, rng *rand.Rand) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(math.Max(-1, math.Min(1, float64(v)+sd*rng.NormFloat64())))
	}
	return out
}

// TestFIDBehavesLikeFIDOnMNIST follows the FID-MNIST practice: FD(test, train) is small, and
// FD(test, corrupted test) rises monotonically with the strength of Gaussian noise and of blur.
func TestFIDBehavesLikeFIDOnMNIST(t *testing.T) {
	data, err := datasets.LoadMNIST("", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	n := 2000
	test := data.HeldOut(2 * n)
	a, b := test[:n*784], test[n*784:]
	train := make([]float32, n*784)
	data.Train(7, 0, n, train)
	fid := func(x, y []float32) float64 {
		res, err := FID{}.Evaluate(plugins.EvalInput{H: 28, W: 28, C: 1, Dim: 784, Samples: x, HeldOut: y, Train: y})
		if err != nil {
			t.Fatal(err)
		}
		return res.Values["fid"]
	}
	base := fid(train, a)
	same := fid(b, a)
	t.Logf("FD(train, test) = %.3f, FD(test half, test half) = %.3f", base, same)
	// With 2,000 images a side the estimator is biased upward; two halves of the test set show
	// the floor. Training images must be about as close as other test images are.
	if base > 1.5*same {
		t.Errorf("FD(train, test) = %.3f is far above the sampling floor %.3f", base, same)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		name   string
		levels []func([]float32) []float32
	}{
		{"gaussian noise", []func([]float32) []float32{
			func(x []float32) []float32 { return noisy(x, 0.1, rng) },
			func(x []float32) []float32 { return noisy(x, 0.25, rng) },
			func(x []float32) []float32 { return noisy(x, 0.5, rng) },
			func(x []float32) []float32 { return noisy(x, 1.0, rng) },
		}},
		{"blur", []func([]float32) []float32{
			func(x []float32) []float32 { return blur(x, 1) },
			func(x []float32) []float32 { return blur(x, 2) },
			func(x []float32) []float32 { return blur(x, 4) },
			func(x []float32) []float32 { return blur(x, 8) },
		}},
	} {
		prev := same
		for i, corrupt := range c.levels {
			v := fid(corrupt(b), a)
			t.Logf("%s level %d: FD = %.3f", c.name, i+1, v)
			if v <= prev {
				t.Errorf("%s level %d: FD %.3f does not rise above %.3f", c.name, i+1, v, prev)
			}
			prev = v
		}
		if prev < 10*base {
			t.Errorf("%s: strongest corruption FD %.3f is not far above FD(train, test) %.3f", c.name, prev, base)
		}
	}
}

func TestInceptionScoreOfHeldOutData(t *testing.T) {
	data, err := datasets.LoadMNIST("", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	res, err := IS{}.Evaluate(plugins.EvalInput{H: 28, W: 28, C: 1, Dim: 784, Samples: data.HeldOut(1000), HeldOut: data.HeldOut(1000)})
	if err != nil {
		t.Fatal(err)
	}
	// Ten balanced, confidently classified classes give an IS near 10.
	if v := res.Values["is"]; v < 9 || v > 10 {
		t.Errorf("IS of MNIST test images = %.3f, want between 9 and 10", v)
	}
	// A single repeated image has IS 1.
	one := data.HeldOut(1)
	rep := make([]float32, 0, 100*784)
	for range 100 {
		rep = append(rep, one...)
	}
	res, _ = IS{}.Evaluate(plugins.EvalInput{H: 28, W: 28, C: 1, Dim: 784, Samples: rep, HeldOut: rep})
	if v := res.Values["is"]; math.Abs(v-1) > 1e-9 {
		t.Errorf("IS of one repeated image = %g, want 1", v)
	}
}

// class_accuracy on held-out digits with their own labels is the classifier's accuracy (near
// 1); with the labels shifted by one it is near 0; without labels it is an error.
func TestClassAccuracy(t *testing.T) {
	data, err := datasets.LoadMNIST("", nil, 14)
	if err != nil {
		t.Skip(err)
	}
	x, labels := data.HeldOut(500), data.TestLabels(500)
	shifted := make([]int, len(labels))
	for i, l := range labels {
		shifted[i] = (l + 1) % 10
	}
	for _, c := range []struct {
		labels   []int
		lo, high float64
	}{{labels, 0.95, 1}, {shifted, 0, 0.05}} {
		res, err := ClassAccuracy{}.Evaluate(plugins.EvalInput{H: 14, W: 14, C: 1, Dim: 196, Samples: x, SampleLabels: c.labels})
		if err != nil {
			t.Fatal(err)
		}
		if a := res.Values["class_accuracy"]; a < c.lo || a > c.high {
			t.Errorf("accuracy %v, want it in [%g, %g]", a, c.lo, c.high)
		}
	}
	if _, err := (ClassAccuracy{}).Evaluate(plugins.EvalInput{H: 14, W: 14, C: 1, Dim: 196, Samples: x}); err == nil {
		t.Error("no labels: no error")
	}
}
