package gokernels

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchShapes are the products (M x N x K) that the benchmarks time: the reference MNIST
// MLP step's forward products and its weight and input gradients at batch 128, and the
// 1024^3 square.
var BenchShapes = [][3]int{{128, 256, 912}, {128, 256, 256}, {128, 784, 256}, {912, 256, 128}, {128, 912, 256}, {1024, 1024, 1024}}

// GFLOPS times an (m x k) by (k x n) float32 product through a go backend (as a graph Dot,
// so the fast kernel is reached through its hook) for at least minTime, with the fast or
// the stock kernel, and returns GFLOP/s. The process's choice of kernel is restored after.
func GFLOPS(backend backends.Backend, m, n, k int, fast bool, minTime time.Duration) (float64, error) {
	defer SetEnabled(Wanted())
	SetEnabled(fast)
	if fast && !Active() {
		return 0, fmt.Errorf("the fast matmul kernel is not active: %s", Kernel())
	}
	exec, err := graph.NewExec(backend, func(x, y *graph.Node) *graph.Node { return graph.Dot(x, y) })
	if err != nil {
		return 0, err
	}
	defer exec.Finalize()
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensors.FromFlatDataAndDimensions(randomData(rng, []int{m, k}), m, k)
	y := tensors.FromFlatDataAndDimensions(randomData(rng, []int{k, n}), k, n)
	if _, err := exec.Exec(x, y); err != nil { // compile
		return 0, err
	}
	calls, start := 0, time.Now()
	for calls == 0 || time.Since(start) < minTime {
		out, err := exec.Exec(x, y)
		if err != nil {
			return 0, err
		}
		out[0].FinalizeAll()
		calls++
	}
	return 2 * float64(m) * float64(n) * float64(k) * float64(calls) / time.Since(start).Seconds() / 1e9, nil
}
