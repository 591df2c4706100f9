package fastdot

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// matmulShapes are the products of the reference MLP step at batch 128 (forward, and the two
// gradient products of each layer) and the 1024^3 square.
var matmulShapes = []struct{ m, n, k int }{
	{128, 256, 912}, {128, 256, 256}, {128, 784, 256},
	{912, 256, 128}, {128, 912, 256},
	{1024, 1024, 1024},
}

// BenchmarkGemm reports GFLOP/s of the packed AVX2/FMA product, row-major operands.
func BenchmarkGemm(b *testing.B) {
	requireKernel(b)
	for _, s := range matmulShapes {
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x := stridedMatrix(randomFloats(rng, s.m*s.k), 0, s.m, s.k, s.k, 1)
			y := stridedMatrix(randomFloats(rng, s.k*s.n), 0, s.k, s.n, s.n, 1)
			c := make([]float32, s.m*s.n)
			workers := defaultWorkers()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				gemm(s.m, s.n, s.k, x, y, c, workers)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
