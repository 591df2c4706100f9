package gokernels

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
)

// cpuSeconds is the process's user and system CPU time: on this shared machine a
// benchmark's work per CPU second varies far less than its work per wall second.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6 + float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
}

// BenchmarkConvProducts reports GFLOP per CPU second of the products behind a 3x3
// convolution at batch 32 ([H, W, B, C] layout) on one worker: the forward one (A the implicit
// im2col operand read through its offset tables) and the kernel gradient's (A its transpose).
func BenchmarkConvProducts(b *testing.B) {
	for _, s := range [][3]int{{28, 16, 16}, {28, 32, 32}, {14, 64, 64}} {
		h, cin, cout := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(1, 2))
		rows, cols, size := im2colOffsets(h, h, 32, cin)
		img := randomData(rng, []int{size})
		for _, kind := range []string{"forward", "kgrad"} {
			var a, bm matrix
			var m, n, k int
			if kind == "forward" {
				a = newMatrix(img, rows, cols)
				m, k, n = len(rows), len(cols), cout
			} else {
				a = newMatrix(img, cols, rows)
				m, k, n = len(cols), len(rows), cout
			}
			bm = stridedMatrix(randomData(rng, []int{k * n}), 0, k, n, n, 1)
			c := make([]float32, m*n)
			b.Run(fmt.Sprintf("%dx%dx%d->%d/%s", h, h, cin, cout, kind), func(b *testing.B) {
				t0 := cpuSeconds()
				for range b.N {
					gemm(m, n, k, a, bm, c, 1)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/(cpuSeconds()-t0)/1e9, "GFLOP/cpu-s")
			})
		}
	}
}
