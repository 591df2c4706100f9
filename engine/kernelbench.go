package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gctx "github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/ddpm-runner/ddpm-runner/internal/fastdot"
)

// KernelComparison is the outcome of CompareMatmulKernels: the median training speed of the
// same trainer with the fast DotGeneral kernel and with GoMLX's stock kernel.
type KernelComparison struct {
	Rounds           int
	FastStepsPerSec  float64
	StockStepsPerSec float64
	Batch            int
}

// Speedup is fast over stock.
func (k KernelComparison) Speedup() float64 { return k.FastStepsPerSec / k.StockStepsPerSec }

func (k KernelComparison) String() string {
	return fmt.Sprintf("fast %.2f steps/s (%.0f examples/s), stock %.2f steps/s: %.2fx (medians of %d alternating rounds)",
		k.FastStepsPerSec, k.FastStepsPerSec*float64(k.Batch), k.StockStepsPerSec, k.Speedup(), k.Rounds)
}

// CompareMatmulKernels times one trainer (compiled once) in alternating rounds of
// stepsPerRound steps with the fast kernel and with the stock one, so both see the same
// machine state, and returns the medians. The graph, including the project's DotGeneral
// gradient, is the same in both: only the matmul kernel differs. The fast kernel's earlier
// state is restored afterwards.
func CompareMatmulKernels(backend backends.Backend, j *Job, rounds, stepsPerRound int) (KernelComparison, error) {
	res := KernelComparison{Rounds: rounds, Batch: j.Trial.Train().Int("batch")}
	if !fastdot.Active() {
		return res, fmt.Errorf("the fast matmul kernel is not active: %s", fastdot.Kernel())
	}
	defer fastdot.SetEnabled(true)
	trainer, err := j.newTrainer(backend, gctx.New())
	if err != nil {
		return res, err
	}
	bb := newBatchBuffers(res.Batch, j.Data.Dim())
	step := 0
	timed := func(fast bool) (float64, error) {
		fastdot.SetEnabled(fast)
		start := time.Now()
		for range stepsPerRound {
			step++
			if _, err := trainer.TrainStep(nil, j.batchInputs(step, bb), nil); err != nil {
				return 0, err
			}
		}
		return float64(stepsPerRound) / time.Since(start).Seconds(), nil
	}
	if _, err := timed(true); err != nil { // compile and warm up
		return res, err
	}
	var fast, stock []float64
	for r := range rounds {
		// Alternate which goes first, so neither always follows the other.
		order := []bool{r%2 == 0, r%2 != 0}
		for _, f := range order {
			rate, err := timed(f)
			if err != nil {
				return res, err
			}
			if f {
				fast = append(fast, rate)
			} else {
				stock = append(stock, rate)
			}
		}
	}
	res.FastStepsPerSec, res.StockStepsPerSec = median(fast), median(stock)
	return res, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MatmulShapes are the products timed by MatmulGFLOPS in the benchmarks: the reference MLP
// step's forward products and weight and input gradients at batch 128 (M x N x K), and the
// 1024^3 square.
var MatmulShapes = [][3]int{{128, 256, 912}, {128, 256, 256}, {128, 784, 256}, {912, 256, 128}, {128, 912, 256}, {1024, 1024, 1024}}

// MatmulGFLOPS times an (m x k) by (k x n) float32 product through the backend (as a graph
// Dot, so the fast kernel is reached through its hook) for at least minTime, with the fast
// or the stock kernel, and returns GFLOP/s.
func MatmulGFLOPS(backend backends.Backend, m, n, k int, fast bool, minTime time.Duration) (float64, error) {
	prev := fastdot.Wanted()
	defer fastdot.SetEnabled(prev)
	fastdot.SetEnabled(fast)
	if fast && !fastdot.Active() {
		return 0, fmt.Errorf("the fast matmul kernel is not active: %s", fastdot.Kernel())
	}
	exec, err := graph.NewExec(backend, func(x, y *graph.Node) *graph.Node { return graph.Dot(x, y) })
	if err != nil {
		return 0, err
	}
	defer exec.Finalize()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	x := tensors.FromFlatDataAndDimensions(random(m*k), m, k)
	y := tensors.FromFlatDataAndDimensions(random(k*n), k, n)
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
