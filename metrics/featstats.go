package metrics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// FeatureStats accumulates the mean and the covariance of feature vectors batch by batch in
// float64 (each batch's mean and centred co-moment merged into the running ones, Chan et
// al.'s pairwise update), so that 50,000 vectors of 2048 features need the d x d co-moment
// and one batch, never all the vectors.
type FeatureStats struct {
	dim  int
	n    int
	mean []float64
	m2   *mat.SymDense // sum over vectors of (x - mean)(x - mean)^T
}

// NewFeatureStats starts statistics of dim-dimensional vectors.
func NewFeatureStats(dim int) *FeatureStats {
	return &FeatureStats{dim: dim, mean: make([]float64, dim), m2: mat.NewSymDense(dim, nil)}
}

// N is how many vectors were added.
func (s *FeatureStats) N() int { return s.n }

// Add merges a batch of vectors (count x dim values, row-major).
func (s *FeatureStats) Add(x []float32) error {
	if len(x)%s.dim != 0 {
		return fmt.Errorf("feature statistics: %d values are not vectors of %d", len(x), s.dim)
	}
	nb := len(x) / s.dim
	if nb == 0 {
		return nil
	}
	mb := make([]float64, s.dim)
	for i := range nb {
		for j, v := range x[i*s.dim : (i+1)*s.dim] {
			mb[j] += float64(v)
		}
	}
	for j := range mb {
		mb[j] /= float64(nb)
	}
	c := make([]float64, len(x))
	for i := range nb {
		for j, v := range x[i*s.dim : (i+1)*s.dim] {
			c[i*s.dim+j] = float64(v) - mb[j]
		}
	}
	// The batch's co-moment, added into the running one, then the correction for the two means.
	blas64.Syrk(blas.Trans, 1, blas64.General{Rows: nb, Cols: s.dim, Stride: s.dim, Data: c}, 1, s.m2.RawSymmetric())
	n := s.n + nb
	delta := make([]float64, s.dim)
	for j := range delta {
		delta[j] = mb[j] - s.mean[j]
	}
	if s.n > 0 {
		s.m2.SymRankOne(s.m2, float64(s.n)*float64(nb)/float64(n), mat.NewVecDense(s.dim, delta))
	}
	for j := range s.mean {
		s.mean[j] += delta[j] * float64(nb) / float64(n)
	}
	s.n = n
	return nil
}

// Mean is the mean vector.
func (s *FeatureStats) Mean() []float64 { return append([]float64(nil), s.mean...) }

// Cov is the unbiased covariance, as np.cov(x, rowvar=False): the co-moment over n - 1.
func (s *FeatureStats) Cov() (*mat.SymDense, error) {
	if s.n < 2 {
		return nil, fmt.Errorf("feature statistics: a covariance needs at least 2 vectors, have %d", s.n)
	}
	out := mat.NewSymDense(s.dim, nil)
	out.ScaleSym(1/float64(s.n-1), s.m2)
	return out, nil
}

// FrechetEps is what pytorch-fid's calculate_frechet_distance adds to both covariances'
// diagonals when the square root of their product is not finite.
const FrechetEps = 1e-6

// FrechetDistance is pytorch-fid's calculate_frechet_distance: ||mu1 - mu2||^2 + tr(S1) +
// tr(S2) - 2 tr((S1 S2)^{1/2}), the trace of the square root taken as that of the symmetric
// (S1^{1/2} S2 S1^{1/2})^{1/2}, which has the same eigenvalues. When that is not finite
// (pytorch-fid: sqrtm's result), it is taken again with FrechetEps added to both diagonals
// and fallback is true; the traces of S1 and S2 stay those of the given covariances, as in
// pytorch-fid.
func FrechetDistance(mu1 []float64, s1 *mat.SymDense, mu2 []float64, s2 *mat.SymDense) (d float64, fallback bool, err error) {
	if len(mu1) != len(mu2) || s1.SymmetricDim() != len(mu1) || s2.SymmetricDim() != len(mu2) {
		return 0, false, fmt.Errorf("frechet distance: means of %d and %d features, covariances %d x %d and %d x %d",
			len(mu1), len(mu2), s1.SymmetricDim(), s1.SymmetricDim(), s2.SymmetricDim(), s2.SymmetricDim())
	}
	tr, err := traceSqrtProduct(s1, s2)
	if err != nil || math.IsNaN(tr) || math.IsInf(tr, 0) {
		fallback = true
		a, b := withDiagonal(s1, FrechetEps), withDiagonal(s2, FrechetEps)
		if tr, err = traceSqrtProduct(a, b); err != nil {
			return 0, true, err
		}
	}
	var d2 float64
	for i := range mu1 {
		d2 += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i])
	}
	return d2 + mat.Trace(s1) + mat.Trace(s2) - 2*tr, fallback, nil
}

// traceSqrtProductFn is the trace of (S1 S2)^{1/2}; a variable so that a test can make it fail
// and see the fallback.
var traceSqrtProductFn = traceSqrtProductSym

func traceSqrtProduct(a, b *mat.SymDense) (float64, error) { return traceSqrtProductFn(a, b) }

func traceSqrtProductSym(a, b *mat.SymDense) (float64, error) {
	sqrtA, err := SqrtPSD(a)
	if err != nil {
		return 0, err
	}
	dim := a.SymmetricDim()
	var inner mat.Dense
	inner.Mul(sqrtA, b)
	inner.Mul(&inner, sqrtA)
	sym := mat.NewSymDense(dim, nil)
	for i := range dim {
		for k := i; k < dim; k++ {
			sym.SetSym(i, k, (inner.At(i, k)+inner.At(k, i))/2)
		}
	}
	root, err := SqrtPSD(sym)
	if err != nil {
		return 0, err
	}
	return mat.Trace(root), nil
}

func withDiagonal(s *mat.SymDense, eps float64) *mat.SymDense {
	out := mat.NewSymDense(s.SymmetricDim(), nil)
	out.CopySym(s)
	for i := range s.SymmetricDim() {
		out.SetSym(i, i, out.At(i, i)+eps)
	}
	return out
}
