package gokernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ddpm-runner/ddpm-runner/internal/conv"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
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

// BenchmarkConv reports GFLOP/s of the U-Nets' 3x3 convolutions (forward and both
// gradients) on the fast path, [H, W, B, C] layout at batch 32, per shape and with A read in
// place up to 2 and 4 column panels.
func BenchmarkConv(b *testing.B) {
	bk := enabledBackend(b)
	for _, s := range [][3]int{{28, 16, 16}, {28, 32, 32}, {14, 64, 64}, {7, 64, 64}} {
		hw, cin, cout := s[0], s[1], s[2]
		for _, panels := range []int{2, 4} {
			b.Run(fmt.Sprintf("%dx%dx%d->%d/direct%d", hw, hw, cin, cout, panels), func(b *testing.B) {
				defer func(p int) { maxDirectPanels = p }(maxDirectPanels)
				maxDirectPanels = panels
				exec, err := graph.NewExecAny(bk, func(x, k, r *graph.Node) []*graph.Node {
					out := conv.Same3x3(x, k, 1)
					g := graph.Gradient(graph.ReduceAllSum(graph.Mul(out, r)), x, k)
					return []*graph.Node{out, g[0], g[1]}
				})
				if err != nil {
					b.Fatal(err)
				}
				defer exec.Finalize()
				rng := rand.New(rand.NewPCG(1, 2))
				x := tensors.FromFlatDataAndDimensions(randomData(rng, []int{hw, hw, 32, cin}), hw, hw, 32, cin)
				k := tensors.FromFlatDataAndDimensions(randomData(rng, []int{3, 3, cin, cout}), 3, 3, cin, cout)
				r := tensors.FromFlatDataAndDimensions(randomData(rng, []int{hw, hw, 32, cout}), hw, hw, 32, cout)
				if _, err := exec.Exec(x, k, r); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := exec.Exec(x, k, r); err != nil {
						b.Fatal(err)
					}
				}
				flops := 3 * 2 * float64(hw*hw*32) * 9 * float64(cin*cout)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
