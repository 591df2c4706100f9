package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestWideTileEqualsNarrow runs every access path of the product (A packed, its rows read in
// place, A a progression both ways, A through offset tables) with the AVX-512 kernels (8 x 16;
// 8 x 32 over two full panels; 16 x 16 over rows at a constant stride) and with the AVX2
// 6 x 16 one: the bits must be the same, edge tiles, several kc blocks and one
// or two workers included, and within float32 rounding of the float64 reference.
func TestWideTileEqualsNarrow(t *testing.T) {
	requireKernel(t)
	if !avx512Supported {
		t.Skip("this CPU has no AVX-512: only the 6 x 16 tile runs here")
	}
	t.Cleanup(func() { useWideTile(avx512Supported) })
	rng := rand.New(rand.NewPCG(11, 12))
	// A padded 6x5 image of 3 examples with 4 channels, laid out [y, x, b, c]: an implicit
	// im2col operand, and its transpose (a kernel gradient's).
	patchRows, patchCols, size := im2colOffsets(6, 5, 3, 4)
	img := randomData(rng, []int{size})
	// A wider image, whose 16-row tiles are progressions (96 rows per image row): the forward
	// operand's rows (stride cin) and the kernel gradient's (stride 1); both contract over
	// more than kc, so the 16 x 16 kernel also adds to C.
	rows2, cols2, size2 := im2colOffsets(3, 6, 16, 32)
	img2 := randomData(rng, []int{size2})
	// Rows that are not progressions (15 to an image row) and more than kc columns: the 8-row
	// table kernels adding to C.
	rows3, cols3, size3 := im2colOffsets(6, 5, 3, 32)
	img3 := randomData(rng, []int{size3})
	dense := func(m, k int) matrix { return stridedMatrix(randomData(rng, []int{m * k}), 0, m, k, k, 1) }
	cases := []struct {
		name string
		a    matrix
		n    int
	}{
		{"packed/100x600 n=200", dense(100, 600), 200},
		{"packed/7x3 n=33", dense(7, 3), 33},
		// A transposed operand with more than maxDirectPanels panels is packed: pairs of full
		// panels, then one full panel (n=208) or an edge panel (n=200).
		{"packed/100x300 transposed n=200", stridedMatrix(randomData(rng, []int{100 * 300}), 0, 100, 300, 1, 100), 200},
		{"packed/100x300 transposed n=208", stridedMatrix(randomData(rng, []int{100 * 300}), 0, 100, 300, 1, 100), 208},
		{"rows/97x300 n=32", dense(97, 300), 32},
		{"rows/61x259 n=250", stridedMatrix(randomData(rng, []int{61 * 300}), 1, 61, 259, 300, 1), 250},
		{"direct/144x700 n=16 (transposed)", stridedMatrix(randomData(rng, []int{144 * 700}), 0, 144, 700, 1, 144), 16},
		{"direct/13x257 n=31 (transposed)", stridedMatrix(randomData(rng, []int{13 * 257}), 0, 13, 257, 1, 13), 31},
		{"table/forward n=16", newMatrix(img, patchRows, patchCols), 16},
		{"table/forward n=64", newMatrix(img, patchRows, patchCols), 64},
		{"direct/40x300 n=64 (transposed)", stridedMatrix(randomData(rng, []int{40 * 300}), 0, 40, 300, 1, 40), 64},
		{"table/kernel gradient n=48", newMatrix(img, patchCols, patchRows), 48},
		{"table/forward n=40", newMatrix(img, patchRows, patchCols), 40},
		{"table/forward n=200", newMatrix(img, patchRows, patchCols), 200},
		{"table/forward, 16-row progressions n=16", newMatrix(img2, rows2, cols2), 16},
		{"table/forward, 16-row progressions n=24", newMatrix(img2, rows2, cols2), 24},
		{"table/kernel gradient, 16-row progressions n=16", newMatrix(img2, cols2, rows2), 16},
		{"table/forward, k > kc n=16", newMatrix(img3, rows3, cols3), 16},
		{"table/forward, k > kc n=48", newMatrix(img3, rows3, cols3), 48},
	}
	for _, tc := range cases {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/workers=%d", tc.name, workers), func(t *testing.T) {
				m, k := len(tc.a.rowOff), len(tc.a.colOff)
				b := stridedMatrix(randomData(rng, []int{k * tc.n}), 0, k, tc.n, tc.n, 1)
				product := func(wide bool) []float32 {
					useWideTile(wide)
					c := make([]float32, m*tc.n)
					gemm(m, tc.n, k, tc.a, b, c, workers)
					return c
				}
				wide, narrow := product(true), product(false)
				checkAgainstReference(t, "8x16", m, tc.n, k, tc.a, b, wide)
				for i := range wide {
					if math.Float32bits(wide[i]) != math.Float32bits(narrow[i]) {
						t.Fatalf("element %d: 8x16 tile %v, 6x16 tile %v", i, wide[i], narrow[i])
					}
				}
			})
		}
	}
}
