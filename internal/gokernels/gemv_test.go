package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemvMatchesFloat64 runs the one-column products on implicit-im2col operands, a
// convolution to one channel (its rows of A read run by run) and its kernel gradient (sixteen
// rows at a time), with even and odd lengths and 16 and 32 input channels: within float32
// rounding of the float64 reference, through the one-column kernels (not the tiles), and the
// same bits on one worker and on two.
func TestGemvMatchesFloat64(t *testing.T) {
	requireKernel(t)
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range []struct{ h, w, batch, cin int }{{5, 4, 3, 16}, {6, 5, 3, 32}, {7, 7, 5, 16}, {28, 28, 8, 32}} {
		rows, cols, size := im2colOffsets(s.h, s.w, s.batch, s.cin)
		img := randomData(rng, []int{size})
		for _, tc := range []struct {
			name string
			a    matrix
			want string
		}{
			{"forward", newMatrix(img, rows, cols), "rows"},
			{"kernel gradient", newMatrix(img, cols, rows), "cols"},
		} {
			t.Run(fmt.Sprintf("%s/%dx%dx%dx%d", tc.name, s.h, s.w, s.batch, s.cin), func(t *testing.T) {
				m, k := len(tc.a.rowOff), len(tc.a.colOff)
				b := stridedMatrix(randomData(rng, []int{k}), 0, k, 1, 1, 1)
				if kind, _ := gemvPlan(m, 1, k, tc.a, b); kind != tc.want {
					t.Fatalf("gemvPlan chose %q, want %q", kind, tc.want)
				}
				var got [2][]float32
				for w := range got {
					got[w] = make([]float32, m)
					gemm(m, 1, k, tc.a, b, got[w], w+1)
				}
				checkAgainstReference(t, tc.name, m, 1, k, tc.a, b, got[0])
				for i := range got[0] {
					if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
						t.Fatalf("element %d: %v on one worker, %v on two", i, got[0][i], got[1][i])
					}
				}
			})
		}
	}
	// Three input channels: neither form, so the tile kernels run.
	rows, cols, size := im2colOffsets(4, 4, 2, 3)
	a := newMatrix(randomData(rng, []int{size}), rows, cols)
	b := stridedMatrix(randomData(rng, []int{len(cols)}), 0, len(cols), 1, 1, 1)
	if kind, _ := gemvPlan(len(rows), 1, len(cols), a, b); kind != "" {
		t.Fatalf("gemvPlan chose %q for 3 channels", kind)
	}
}
