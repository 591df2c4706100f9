package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refGemm is the float64 reference: c[i][j] = sum_p a(i,p) b(p,j), accumulated in float64.
func refGemm(m, n, k int, a, b matrix) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a.data[a.rowOff[i]+a.colOff[p]]) * float64(b.data[b.rowOff[p]+b.colOff[j]])
			}
			c[i*n+j] = s
		}
	}
	return c
}

// absRef is the float64 sum of |a||b| per element, the scale float32 rounding errors grow with.
func absRef(m, n, k int, a, b matrix) []float64 {
	abs := func(s matrix) matrix {
		d := make([]float32, len(s.data))
		for i, v := range s.data {
			d[i] = float32(math.Abs(float64(v)))
		}
		s.data = d
		return s
	}
	return refGemm(m, n, k, abs(a), abs(b))
}

func requireKernel(t testing.TB) {
	if !kernelSupported {
		t.Skip("no AVX2/FMA on this machine")
	}
}

// checkAgainstReference fails if any element is further from the float64 value than float32
// summation can explain: k * 2^-23 * sum|a||b| is a strict bound for any order of summation.
func checkAgainstReference(t *testing.T, name string, m, n, k int, a, b matrix, got []float32) {
	t.Helper()
	want, scale := refGemm(m, n, k, a, b), absRef(m, n, k, a, b)
	bound := float64(k+2) * math.Pow(2, -23)
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > bound*scale[i] || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: element (%d,%d) = %g, float64 reference %g (|diff| %g > bound %g)",
				name, i/n, i%n, got[i], want[i], d, bound*scale[i])
		}
	}
}

func TestGemmMatchesFloat64Reference(t *testing.T) {
	requireKernel(t)
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 3, 17, 129}
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range sizes {
				for _, layout := range []string{"NN", "TN", "NT", "TT"} {
					ad, bd := randomData(rng, []int{m*k + 3}), randomData(rng, []int{k*n + 1})
					a := stridedMatrix(ad, 3, m, k, k, 1)
					if layout[0] == 'T' {
						a = stridedMatrix(ad, 3, m, k, 1, m)
					}
					b := stridedMatrix(bd, 1, k, n, n, 1)
					if layout[1] == 'T' {
						b = stridedMatrix(bd, 1, k, n, 1, k)
					}
					c := randomData(rng, []int{m * n}) // garbage that must be overwritten
					gemm(m, n, k, a, b, c, 2)
					checkAgainstReference(t, fmt.Sprintf("%s m=%d n=%d k=%d", layout, m, n, k), m, n, k, a, b, c)
				}
			}
		}
	}
}

// TestGemmScatteredOffsets uses offset tables that are neither rows nor columns of a
// row-major matrix (the generic packing loops).
func TestGemmScatteredOffsets(t *testing.T) {
	requireKernel(t)
	rng := rand.New(rand.NewPCG(5, 6))
	m, n, k := 13, 21, 40
	data := randomData(rng, []int{4096})
	perm := func(count, spread int) []int {
		return rng.Perm(spread)[:count]
	}
	// Rows and columns drawn from disjoint ranges so that every (row, column) pair is distinct.
	a := newMatrix(data, perm(m, 50), offsetsFrom(perm(k, 40), 100))
	b := newMatrix(data, offsetsFrom(perm(k, 40), 1000), offsetsFrom(perm(n, 30), 2000))
	c := make([]float32, m*n)
	gemm(m, n, k, a, b, c, 2)
	checkAgainstReference(t, "scattered", m, n, k, a, b, c)
}

func offsetsFrom(idx []int, base int) []int {
	for i := range idx {
		idx[i] = base + 10*idx[i]
	}
	return idx
}

func TestGemmLargeAndWorkerCountInvariant(t *testing.T) {
	requireKernel(t)
	rng := rand.New(rand.NewPCG(3, 4))
	m, n, k := 300, 531, 700 // several kc blocks, mc blocks and edge tiles
	a := stridedMatrix(randomData(rng, []int{m * k}), 0, m, k, k, 1)
	b := stridedMatrix(randomData(rng, []int{k * n}), 0, k, n, n, 1)
	c1 := make([]float32, m*n)
	gemm(m, n, k, a, b, c1, 1)
	checkAgainstReference(t, "300x531x700", m, n, k, a, b, c1)
	for _, workers := range []int{2, 3, 7} {
		c := make([]float32, m*n)
		gemm(m, n, k, a, b, c, workers)
		for i := range c {
			if math.Float32bits(c[i]) != math.Float32bits(c1[i]) {
				t.Fatalf("workers=%d: element %d = %g, with one worker %g: results must not depend on the split", workers, i, c[i], c1[i])
			}
		}
	}
}
