package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDirectKernelEqualsPacked: with A read in place (one or two column panels, A's rows or
// columns at a constant stride; up to maxRowsPanels panels when A's rows are contiguous, of
// a wider buffer too) every product is within float32 rounding of the float64
// reference and bit for bit what the packed path gives, including the edge tiles (rows not a
// multiple of 6, columns not of 16) and several kc blocks.
func TestDirectKernelEqualsPacked(t *testing.T) {
	requireKernel(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		m, n, k    int
		transposed bool // A stored k-major (the weight gradient's patches^T)
		lda        int  // A's row stride when it is not k (rows of a wider matrix)
	}{
		{6, 16, 1, false, 0}, {7, 16, 9, false, 0}, {25, 16, 144, false, 0}, {97, 32, 300, false, 0}, {40, 5, 600, false, 0},
		{144, 16, 700, true, 0}, {13, 31, 257, true, 0}, {6, 1, 3, true, 0},
		{6, 48, 2, false, 0}, {13, 200, 3, false, 7}, {100, 256, 912, false, 0}, {61, 250, 259, false, 300},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d/transposed=%v/lda=%d", tc.m, tc.n, tc.k, tc.transposed, tc.lda), func(t *testing.T) {
			ad := randomData(rng, []int{tc.m * max(tc.k, tc.lda)})
			a := stridedMatrix(ad, 0, tc.m, tc.k, tc.k, 1)
			if tc.lda > 0 {
				a = stridedMatrix(ad, 1, tc.m, tc.k, tc.lda, 1)
			}
			if tc.transposed {
				a = stridedMatrix(ad, 0, tc.m, tc.k, 1, tc.m)
			}
			b := stridedMatrix(randomData(rng, []int{tc.k * tc.n}), 0, tc.k, tc.n, tc.n, 1)
			if a.rowStep == 0 || a.colStep == 0 {
				t.Fatalf("A's offsets are progressions; steps %d, %d", a.rowStep, a.colStep)
			}
			calls0 := directCalls.Load()
			direct := make([]float32, tc.m*tc.n)
			gemm(tc.m, tc.n, tc.k, a, b, direct, 2)
			if tc.m >= mr && directCalls.Load() == calls0 {
				t.Fatal("the direct kernel did not run")
			}
			kernelDirectSupported = false
			packed := make([]float32, tc.m*tc.n)
			gemm(tc.m, tc.n, tc.k, a, b, packed, 2)
			kernelDirectSupported = true
			checkAgainstReference(t, "direct", tc.m, tc.n, tc.k, a, b, direct)
			if !slices.EqualFunc(direct, packed, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
				t.Error("direct and packed A give different bits")
			}
		})
	}
}

// TestTableKernelEqualsPacked: an implicit im2col operand (rows a progression within each
// image row only, columns in runs of input channels, one run per tap) and a kernel
// gradient's (rows in runs, columns at a stride) are read in place by kernel6x16Table; the
// product is within float32 rounding of the float64 reference and bit for bit the all-packed
// one.
func TestTableKernelEqualsPacked(t *testing.T) {
	requireKernel(t)
	rng := rand.New(rand.NewPCG(7, 8))
	// A padded 7x5 image of 3 examples with 4 channels, laid out [y, x, b, c].
	rows, cols, size := im2colOffsets(7, 5, 3, 4)
	data := randomData(rng, []int{size})
	for _, tc := range []struct {
		name       string
		rows, cols []int
		n          int
	}{
		{"forward", rows, cols, 16}, {"forward/31 columns", rows, cols, 31},
		{"kernel gradient", cols, rows, 16}, // A^T: rows (tap, c), columns (y, x, b)
		// Three and four panels (48 and 64 output channels) are read in place too.
		{"forward/64 columns", rows, cols, 64}, {"kernel gradient/48 columns", cols, rows, 48},
		// With the two-panel kernels, up to maxTablePanels panels (an Inception's 1x7 and 3x3
		// layers of up to 512 channels).
		{"forward/200 columns", rows, cols, 200}, {"kernel gradient/512 columns", cols, rows, 512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, k := len(tc.rows), len(tc.cols)
			a := newMatrix(data, tc.rows, tc.cols)
			b := stridedMatrix(randomData(rng, []int{k * tc.n}), 0, k, tc.n, tc.n, 1)
			if a.rowStep != 0 || a.colStep != 0 {
				t.Fatalf("A's offsets should not be progressions; steps %d, %d", a.rowStep, a.colStep)
			}
			calls0 := directCalls.Load()
			direct := make([]float32, m*tc.n)
			gemm(m, tc.n, k, a, b, direct, 2)
			// Past maxDirectPanels only the two-panel (AVX-512) kernels read A in place.
			if ran, want := directCalls.Load() != calls0, (tc.n+nr-1)/nr <= maxDirectPanels || microTable2 != nil; ran != want {
				t.Fatalf("A read in place: %v, want %v", ran, want)
			}
			kernelDirectSupported = false
			packed := make([]float32, m*tc.n)
			gemm(m, tc.n, k, a, b, packed, 2)
			kernelDirectSupported = true
			checkAgainstReference(t, "table", m, tc.n, k, a, b, direct)
			if !slices.EqualFunc(direct, packed, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
				t.Error("A read through the table and packed A give different bits")
			}
		})
	}
}

// im2colOffsets returns the offset tables of the implicit im2col operand of a 3x3 "same"
// convolution over a padded [h+2, w+2, bsz, cin] buffer (size floats): rows (y, x, b), columns
// (tap, c). Its transpose, rows and columns swapped, is a kernel gradient's operand.
func im2colOffsets(h, w, bsz, cin int) (rows, cols []int, size int) {
	pixel := func(y, x int) int { return (y*(w+2) + x) * bsz * cin }
	for y := range h {
		for x := range w {
			for b := range bsz {
				rows = append(rows, pixel(y, x)+b*cin)
			}
		}
	}
	for ty := range 3 {
		for tx := range 3 {
			for c := range cin {
				cols = append(cols, pixel(ty, tx)+c)
			}
		}
	}
	return rows, cols, (h + 2) * (w + 2) * bsz * cin
}
