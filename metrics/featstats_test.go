package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestFeatureStatsMatchWholeSet: statistics merged batch by batch (uneven batches) equal the
// mean and unbiased covariance of the whole set computed at once.
func TestFeatureStatsMatchWholeSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, d = 203, 7
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64()*3 + 10)
	}
	whole := toDense(x, d)
	mu, cov := meanCov(whole)
	for _, batch := range []int{n, 1, 2, 50, 64} {
		s := NewFeatureStats(d)
		for i := 0; i < n; i += batch {
			if err := s.Add(x[i*d : min(i+batch, n)*d]); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Cov()
		if err != nil {
			t.Fatal(err)
		}
		for i := range d {
			if math.Abs(s.Mean()[i]-mu[i]) > 1e-12*math.Abs(mu[i]) {
				t.Errorf("batch %d: mean[%d] %v, want %v", batch, i, s.Mean()[i], mu[i])
			}
			for j := range d {
				if math.Abs(got.At(i, j)-cov.At(i, j)) > 1e-10*math.Abs(cov.At(i, i)) {
					t.Errorf("batch %d: cov[%d,%d] %v, want %v", batch, i, j, got.At(i, j), cov.At(i, j))
				}
			}
		}
	}
	if _, err := NewFeatureStats(d).Cov(); err == nil {
		t.Error("a covariance of no vectors was given")
	}
}

// TestFrechetDistanceMatchesPytorchFID: pytorch-fid's calculate_frechet_distance (scipy's
// sqrtm) on the feature sets of featurizer/inception/testdata/frechet_ref.json: within 1e-6
// relative on well-conditioned sets, and finite and equal on a singular one (6 vectors of 20
// features) and on two identical sets (0).
func TestFrechetDistanceMatchesPytorchFID(t *testing.T) {
	b, err := os.ReadFile("../featurizer/inception/testdata/frechet_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name     string
		A, B     [][]float64
		FID      float64
		Fallback bool
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	stats := func(rows [][]float64) ([]float64, *mat.SymDense) {
		m := mat.NewDense(len(rows), len(rows[0]), nil)
		for i, r := range rows {
			m.SetRow(i, r)
		}
		return meanCov(m)
	}
	for _, c := range cases {
		m1, s1 := stats(c.A)
		m2, s2 := stats(c.B)
		got, fallback, err := FrechetDistance(m1, s1, m2, s2)
		if err != nil || fallback != c.Fallback || math.IsNaN(got) || math.IsInf(got, 0) {
			t.Fatalf("%s: %v, fallback %v, %v (pytorch-fid: fallback %v)", c.Name, got, fallback, err, c.Fallback)
		}
		tol := 1e-6 * math.Abs(c.FID)
		if c.Name == "identical" {
			tol = 1e-9
		}
		if math.Abs(got-c.FID) > tol {
			t.Errorf("%s: %.12g, pytorch-fid %.12g (relative %.3g)", c.Name, got, c.FID, math.Abs(got-c.FID)/math.Abs(c.FID))
		}
	}
}

// TestFrechetFallback: when the square root of the product is not finite, the distance is
// taken again with 1e-6 added to both diagonals (pytorch-fid's fallback), the traces of the
// given covariances kept.
func TestFrechetFallback(t *testing.T) {
	s1 := mat.NewSymDense(2, []float64{2, 0, 0, 0})
	s2 := mat.NewSymDense(2, []float64{0, 0, 0, 3})
	mu := []float64{0, 0}
	calls := 0
	saved := traceSqrtProductFn
	t.Cleanup(func() { traceSqrtProductFn = saved })
	traceSqrtProductFn = func(a, b *mat.SymDense) (float64, error) {
		calls++
		if calls == 1 {
			return math.NaN(), nil
		}
		return saved(a, b)
	}
	got, fallback, err := FrechetDistance(mu, s1, mu, s2)
	// (S1 + eps I)(S2 + eps I) = diag((2 + eps) eps, eps (3 + eps)).
	eps := FrechetEps
	want := 2 + 3 - 2*(math.Sqrt((2+eps)*eps)+math.Sqrt(eps*(3+eps)))
	if err != nil || !fallback || math.Abs(got-want) > 1e-12 {
		t.Fatalf("got %v, fallback %v, %v; want %v with the fallback", got, fallback, err, want)
	}
	traceSqrtProductFn = func(a, b *mat.SymDense) (float64, error) { return 0, errors.New("no square root") }
	if _, _, err := FrechetDistance(mu, s1, mu, s2); err == nil {
		t.Fatal("a failing square root gave no error")
	}
}
