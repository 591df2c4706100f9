package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// accessPath is a product's A operand and column count chosen to reach one access path of
// gemm (A packed, read in place by rows, as a progression or through offset tables; one or
// two column panels; edge tiles; more than kc columns).
type accessPath struct {
	name string
	a    matrix
	n    int
}

// accessPaths lists products that, together, run every micro-kernel of both tilings.
func accessPaths(rng *rand.Rand) []accessPath {
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
	return []accessPath{
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
		// One output column: the gemv kernels, whatever the tiling.
		{"gemv/forward n=1", newMatrix(img2, rows2, cols2), 1},
		{"gemv/kernel gradient n=1", newMatrix(img2, cols2, rows2), 1},
	}
}

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
	cases := accessPaths(rng)
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

// withSubnormals returns a copy of data with every fifth value a subnormal float32 of either
// sign, and a copy with a zero of the same sign in each of those places.
func withSubnormals(rng *rand.Rand, data []float32) (subnormal, zeroed []float32) {
	subnormal, zeroed = append([]float32(nil), data...), append([]float32(nil), data...)
	for i := 0; i < len(data); i += 5 {
		v := math.Float32frombits(1 + rng.Uint32N(0x7fffff)) // 2^-149 up to just below 2^-126
		if rng.IntN(2) == 0 {
			v = -v
		}
		subnormal[i], zeroed[i] = v, float32(math.Copysign(0, float64(v)))
	}
	return subnormal, zeroed
}

// TestSubnormalsReadAsZero runs every access path on every tiling this CPU has with
// subnormal values in A and B: each micro-kernel must read them as zeros (the product is bit
// for bit the one with zeros in their place), and must write a subnormal sum as zero.
func TestSubnormalsReadAsZero(t *testing.T) {
	requireKernel(t)
	t.Cleanup(func() { useWideTile(avx512Supported) })
	tilings := []bool{false}
	if avx512Supported {
		tilings = append(tilings, true)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, tc := range accessPaths(rng) {
		m, k := len(tc.a.rowOff), len(tc.a.colOff)
		aSub, aZero := tc.a, tc.a
		aSub.data, aZero.data = withSubnormals(rng, tc.a.data)
		bSub, bZero := withSubnormals(rng, randomData(rng, []int{k * tc.n}))
		// Operands whose every product is 2^-64 * 2^-64 = 2^-128, below the smallest normal
		// float32: each sum of fewer than 4 of them is subnormal.
		aTiny := tc.a
		aTiny.data = make([]float32, len(tc.a.data))
		for i := range aTiny.data {
			aTiny.data[i] = 0x1p-64
		}
		bTiny := make([]float32, k*tc.n)
		for p := range min(3, k) {
			for j := range tc.n {
				bTiny[p*tc.n+j] = 0x1p-64
			}
		}
		for _, wide := range tilings {
			t.Run(fmt.Sprintf("%s/wide=%v", tc.name, wide), func(t *testing.T) {
				useWideTile(wide)
				product := func(a matrix, b []float32) []float32 {
					c := make([]float32, m*tc.n)
					gemm(m, tc.n, k, a, stridedMatrix(b, 0, k, tc.n, tc.n, 1), c, 2)
					return c
				}
				got, want := product(aSub, bSub), product(aZero, bZero)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("element %d: %v with subnormal operands, %v with zeros", i, got[i], want[i])
					}
				}
				for i, v := range product(aTiny, bTiny) {
					if v != 0 {
						t.Fatalf("element %d: %v, a subnormal sum not flushed to zero", i, v)
					}
				}
			})
		}
	}
}

// TestStoreTileFlushesSubnormalSums checks the Go side of flush-to-zero: an edge tile added
// to C whose sum is subnormal stores a zero of the sum's sign, as the kernels' own adds do.
func TestStoreTileFlushesSubnormalSums(t *testing.T) {
	c := []float32{0x1p-125, -0x1p-125, 1, 0x1p-126}
	var tile [maxMr * nr]float32
	tile[0], tile[1], tile[2], tile[3] = -0x1.1p-125, 0x1.8p-126, 0x1p-24, 0
	storeTile(c, tile[:], 0, 4, 1, 4, true)
	want := []float32{float32(math.Copysign(0, -1)), float32(math.Copysign(0, -1)), 1 + 0x1p-24, 0x1p-126}
	for i := range c {
		if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
			t.Errorf("c[%d] = %v (bits %#x), want %v (bits %#x)", i, c[i], math.Float32bits(c[i]), want[i], math.Float32bits(want[i]))
		}
	}
}
