package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ddpm-runner/ddpm-runner/backend"
	"github.com/ddpm-runner/ddpm-runner/engine"
	"github.com/ddpm-runner/ddpm-runner/internal/gokernels"
)

// PrintMatmulKernels prints the fast and the stock matmul kernel's GFLOP/s on the reference
// shapes (gokernels.BenchShapes) through b, a go backend; or one line saying why not when b
// runs the stock kernels.
func PrintMatmulKernels(w io.Writer, b *backend.Backend) error {
	if !b.Fast() {
		fmt.Fprintf(w, "matmul kernels: not compared, the fast kernel is off (%s)\n", b.Kernel())
		return nil
	}
	defer b.Select()
	fmt.Fprintf(w, "\nmatmul through the go backend (GFLOP/s), fast kernel: %s\n", b.Kernel())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "M x N x K\tfast\tstock\tspeedup")
	for _, s := range gokernels.BenchShapes {
		fast, err := gokernels.GFLOPS(b.GoMLX(), s[0], s[1], s[2], true, time.Second)
		if err != nil {
			return err
		}
		stock, err := gokernels.GFLOPS(b.GoMLX(), s[0], s[1], s[2], false, time.Second)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%d x %d x %d\t%.1f\t%.1f\t%.1fx\n", s[0], s[1], s[2], fast, stock, fast/stock)
	}
	return tw.Flush()
}

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

// CompareMatmulKernels times one trainer (compiled once) in alternating rounds of
// stepsPerRound steps with the fast kernel and with the stock one, so both see the same
// machine state, and returns the medians. For a network without convolutions the graph,
// including the project's DotGeneral gradient, is the same in both, and only the matmul
// kernel differs; a U-Net's stock rounds run the im2col convolution, as a run with the fast
// paths off does (simplego's own convolution loops would be far slower). fast is a go backend
// on the fast kernel; the stock rounds run on a second go backend of the same configuration,
// created here, and fast's kernel is in place again afterwards.
func CompareMatmulKernels(fast *backend.Backend, j *engine.Job, rounds, stepsPerRound int) (KernelComparison, error) {
	res := KernelComparison{Rounds: rounds, Batch: j.Trial.Settings.Train.Batch}
	if !fast.Fast() {
		return res, fmt.Errorf("the fast matmul kernel is not active: %s", fast.Kernel())
	}
	stock, err := backend.New(backend.Choice{Config: fast.Choice().Config, Kernel: backend.StockKernel})
	if err != nil {
		return res, err
	}
	defer stock.Finalize()
	defer fast.Select()
	// Each stepper's graph is built on its kernel's backend, which picks its convolution.
	on := map[bool]*backend.Backend{true: fast, false: stock}
	steppers := map[bool]*engine.Stepper{}
	for _, f := range []bool{true, false} {
		s, err := engine.NewStepper(on[f], j)
		if err != nil {
			return res, err
		}
		defer s.Close()
		steppers[f] = s
	}
	// Each stepper counts its own steps, so that the batch it draws ahead is the one it uses.
	steps := map[bool]int{}
	step := func(fast bool) error {
		steps[fast]++
		return steppers[fast].Step(steps[fast], false)
	}
	// A round starts with one untimed step: the other kernel's round has just had the
	// caches, the heap and the cores, and the U-Nets' rounds are only a few steps long.
	timed := func(fast bool) (float64, error) {
		on[fast].Select()
		if err := step(fast); err != nil {
			return 0, err
		}
		start := time.Now()
		for range stepsPerRound {
			if err := step(fast); err != nil {
				return 0, err
			}
		}
		return float64(stepsPerRound) / time.Since(start).Seconds(), nil
	}
	for _, fast := range []bool{true, false} { // compile and warm up
		if _, err := timed(fast); err != nil {
			return res, err
		}
	}
	var fastRates, stockRates []float64
	for r := range rounds {
		// Alternate which goes first, so neither always follows the other.
		order := []bool{r%2 == 0, r%2 != 0}
		for _, f := range order {
			rate, err := timed(f)
			if err != nil {
				return res, err
			}
			if f {
				fastRates = append(fastRates, rate)
			} else {
				stockRates = append(stockRates, rate)
			}
		}
	}
	res.FastStepsPerSec, res.StockStepsPerSec = Median(fastRates), Median(stockRates)
	return res, nil
}

// BareLoop times steps training steps of a job through its GoMLX trainer alone, with the same
// batches as a run, after one untimed step that compiles the graph: the baseline against
// which the runner's own overhead is measured.
func BareLoop(b *backend.Backend, j *engine.Job, steps int) (time.Duration, error) {
	stepper, err := engine.NewStepper(b, j)
	if err != nil {
		return 0, err
	}
	defer stepper.Close()
	if err := stepper.Step(1, false); err != nil {
		return 0, err
	}
	start := time.Now()
	for step := 2; step <= steps+1; step++ {
		if err := stepper.Step(step, false); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// timedRounds times rounds rounds of stepsPerRound training steps on a stepper, after one
// untimed round (the first one's first step compiles the graph; the rest fill the buffer
// pools and let the batches drawn ahead catch up, as PyTorch's replicas warm up before
// timing), and returns each round's steps per second. *step is the last step taken, and
// advances.
func timedRounds(stepper *engine.Stepper, step *int, rounds, stepsPerRound int) ([]float64, error) {
	var rates []float64
	for round := range rounds + 1 {
		start := time.Now()
		for range stepsPerRound {
			*step++
			if err := stepper.Step(*step, false); err != nil {
				return nil, err
			}
		}
		if round > 0 {
			rates = append(rates, float64(stepsPerRound)/time.Since(start).Seconds())
		}
	}
	return rates, nil
}

// Median returns the median of xs (the mean of the middle two for an even count); xs is
// not changed.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
