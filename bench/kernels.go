package bench

import (
	"fmt"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/ddpm-runner/ddpm-runner/engine"
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

// CompareMatmulKernels times one trainer (compiled once) in alternating rounds of
// stepsPerRound steps with the fast kernel and with the stock one, so both see the same
// machine state, and returns the medians. For a network without convolutions the graph,
// including the project's DotGeneral gradient, is the same in both, and only the matmul
// kernel differs; a U-Net's stock rounds run the im2col convolution, as a run with the fast
// paths off does (simplego's own convolution loops would be far slower). The fast kernel's
// earlier state is restored afterwards.
func CompareMatmulKernels(backend backends.Backend, j *engine.Job, rounds, stepsPerRound int) (KernelComparison, error) {
	res := KernelComparison{Rounds: rounds, Batch: j.Trial.Settings.Train.Batch}
	if !fastdot.Active() {
		return res, fmt.Errorf("the fast matmul kernel is not active: %s", fastdot.Kernel())
	}
	defer fastdot.SetEnabled(fastdot.Wanted())
	// Each stepper's graph is built with its kernel switched on or off (engine.NewStepper
	// picks the convolution from it).
	steppers := map[bool]*engine.Stepper{}
	for _, fast := range []bool{true, false} {
		fastdot.SetEnabled(fast)
		s, err := engine.NewStepper(backend, j)
		if err != nil {
			return res, err
		}
		defer s.Close()
		steppers[fast] = s
	}
	// Each stepper counts its own steps, so that the batch it draws ahead is the one it uses.
	steps := map[bool]int{}
	timed := func(fast bool) (float64, error) {
		fastdot.SetEnabled(fast)
		start := time.Now()
		for range stepsPerRound {
			steps[fast]++
			if err := steppers[fast].Step(steps[fast], false); err != nil {
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
	res.FastStepsPerSec, res.StockStepsPerSec = Median(fast), Median(stock)
	return res, nil
}

// BareLoop times steps training steps of a job through its GoMLX trainer alone, with the same
// batches as a run, after one untimed step that compiles the graph: the baseline against
// which the runner's own overhead is measured.
func BareLoop(backend backends.Backend, j *engine.Job, steps int) (time.Duration, error) {
	stepper, err := engine.NewStepper(backend, j)
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
