package metrics

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestSqrtPSD(t *testing.T) {
	s := mat.NewSymDense(2, []float64{4, 1, 1, 3})
	r, err := SqrtPSD(s)
	if err != nil {
		t.Fatal(err)
	}
	var sq mat.Dense
	sq.Mul(r, r)
	for i := range 2 {
		for j := range 2 {
			if math.Abs(sq.At(i, j)-s.At(i, j)) > 1e-12 {
				t.Fatalf("sqrt^2 = %v, want %v", mat.Formatted(&sq), mat.Formatted(s))
			}
		}
	}
	// Closed form for a 2x2 SPD matrix: sqrt(A) = (A + sqrt(det A) I) / sqrt(tr A + 2 sqrt(det A)).
	det := 4*3 - 1.0
	tt := math.Sqrt(4 + 3 + 2*math.Sqrt(det))
	want := []float64{(4 + math.Sqrt(det)) / tt, 1 / tt, 1 / tt, (3 + math.Sqrt(det)) / tt}
	for k, w := range want {
		if math.Abs(r.At(k/2, k%2)-w) > 1e-12 {
			t.Errorf("sqrt[%d] = %.15g, closed form %.15g", k, r.At(k/2, k%2), w)
		}
	}
}

// gaussianSample draws n points of N(mu, diag(sd^2)) in 2-D.
func gaussianSample(rng *rand.Rand, n int, mu, sd [2]float64) []float32 {
	out := make([]float32, 2*n)
	for i := range n {
		out[2*i] = float32(mu[0] + sd[0]*rng.NormFloat64())
		out[2*i+1] = float32(mu[1] + sd[1]*rng.NormFloat64())
	}
	return out
}

func TestFrechetDiagonalClosedForm(t *testing.T) {
	// For diagonal covariances FD = |mu1 - mu2|^2 + sum (s1 - s2)^2 with s the standard deviations.
	rng := rand.New(rand.NewPCG(1, 2))
	a := gaussianSample(rng, 200000, [2]float64{0, 0}, [2]float64{1, 2})
	b := gaussianSample(rng, 200000, [2]float64{1, -1}, [2]float64{3, 0.5})
	got, err := Frechet(a, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := 1.0 + 1.0 + 4.0 + 2.25
	if math.Abs(got-want) > 0.05 {
		t.Errorf("FD = %.4f, closed form %.4f", got, want)
	}
	same, _ := Frechet(a, a, 2)
	if math.Abs(same) > 1e-9 {
		t.Errorf("FD(a, a) = %g, want 0", same)
	}
}

func TestMMDAndChamfer(t *testing.T) {
	a := []float32{0, 0, 1, 0}
	if v := MMD(a, a, 2, 1); math.Abs(v) > 1e-12 {
		t.Errorf("MMD(a, a) = %g", v)
	}
	b := []float32{0, 1, 1, 1}
	// One-point sets: MMD^2 = 2 - 2 k(x, y).
	if v, want := MMD(a[:2], b[:2], 2, 1), 2-2*math.Exp(-0.5); math.Abs(v-want) > 1e-12 {
		t.Errorf("MMD^2 = %g, want %g", v, want)
	}
	// Every point of a is 1 away from its nearest point of b, and vice versa.
	if v := Chamfer(a, b, 2); math.Abs(v-2) > 1e-12 {
		t.Errorf("Chamfer = %g, want 2", v)
	}
}
