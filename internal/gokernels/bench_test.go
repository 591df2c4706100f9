package gokernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGemm reports GFLOP/s of the packed AVX2/FMA product, row-major operands.
func BenchmarkGemm(b *testing.B) {
	requireKernel(b)
	for _, s := range BenchShapes {
		m, n, k := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x := stridedMatrix(randomData(rng, []int{m, k}), 0, m, k, k, 1)
			y := stridedMatrix(randomData(rng, []int{k, n}), 0, k, n, n, 1)
			c := make([]float32, m*n)
			workers := defaultWorkers()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				gemm(m, n, k, x, y, c, workers)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
