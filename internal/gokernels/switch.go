package gokernels

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/ddpm-runner/ddpm-runner/internal/conv"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// EnvVar turns the fast kernel off when set to 0, false, off or no (and on with 1, true, on).
// It is the default of every process; package backend sets the switch to the kernel of each
// backend it creates (go or go:stock, --fast-matmul in the runner).
const EnvVar = "DDPM_FAST_MATMUL"

// Tolerance is the largest relative difference, max|fast - stock| / max|stock| over an
// output, that the self-check accepts between the fast and the stock kernel. Both sum in
// float32 in different orders; on the self-check's shapes they differ by about 1e-7.
const Tolerance = 1e-5

var (
	mu       sync.Mutex
	wanted   = FromEnvironment()
	checked  bool      // the self-check has run in this process
	failure  string    // why the fast kernel is not in use, once checked
	warnings io.Writer = os.Stderr
)

// FromEnvironment reports whether $DDPM_FAST_MATMUL leaves the fast kernel on (it does
// unless it says 0, false, off or no).
func FromEnvironment() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(EnvVar))) {
	case "0", "false", "off", "no":
		return false
	}
	return true
}

// SetEnabled asks for the fast kernel (the default unless $DDPM_FAST_MATMUL says otherwise)
// or for GoMLX's stock kernel. It takes effect at once and for every go backend.
func SetEnabled(on bool) {
	mu.Lock()
	defer mu.Unlock()
	wanted = on
	active.Store(on && checked && failure == "")
}

// Ensure is called with every new go backend. The first time the fast kernel is wanted it
// installs the hook and runs the self-check on that backend; if anything fails it prints one
// warning line and leaves GoMLX's stock kernel in place for the rest of the process.
func Ensure(backend backends.Backend) {
	mu.Lock()
	defer mu.Unlock()
	if !wanted {
		active.Store(false)
		return
	}
	if !checked {
		checked = true
		failure = setUp(backend)
		if failure != "" && warnings != nil {
			fmt.Fprintf(warnings, "warning: fast matmul disabled, using GoMLX's stock kernel: %s\n", failure)
		}
	}
	active.Store(failure == "")
}

func setUp(backend backends.Backend) string {
	if !kernelSupported {
		return "this CPU has no AVX2/FMA"
	}
	if err := installHook(); err != nil {
		return "GoMLX internals changed: " + err.Error()
	}
	if err := selfCheck(backend); err != nil {
		return "self-check failed: " + err.Error()
	}
	return ""
}

// Kernel names the DotGeneral kernel in use (for `runner version` and run provenance).
func Kernel() string {
	mu.Lock()
	defer mu.Unlock()
	switch {
	case active.Load():
		return "fastdot " + kernelName()
	case !wanted:
		return "gomlx-stock (fast matmul turned off)"
	case !checked:
		if !kernelSupported {
			return "gomlx-stock (this CPU has no AVX2/FMA)"
		}
		return "fastdot " + kernelName() + " (pending self-check)"
	default:
		return "gomlx-stock (" + failure + ")"
	}
}

// Wanted reports whether the fast kernel is asked for (by default, $DDPM_FAST_MATMUL or
// SetEnabled), whether or not it passed its self-check.
func Wanted() bool {
	mu.Lock()
	defer mu.Unlock()
	return wanted
}

// SetWarningOutput sets where the self-check's warning goes (standard error by default)
// and returns the previous writer.
func SetWarningOutput(w io.Writer) io.Writer {
	mu.Lock()
	defer mu.Unlock()
	prev := warnings
	warnings = w
	return prev
}

// Active reports whether DotGeneral currently runs on the fast kernel.
func Active() bool { return active.Load() }

// Calls returns how many DotGenerals ran on the fast kernel and how many fell back to the
// stock kernel while the fast one was active.
func Calls() (fast, fallback int64) { return fastCalls.Load(), fallbackCalls.Load() }

// SetCorruptForTest makes the fast kernel return a wrong value (one element off by 0.1%) so
// tests can check that the self-check catches a broken kernel. Never set it outside tests.
func SetCorruptForTest(on bool) { corruptForTest.Store(on) }

// ResetForTest forgets the self-check's verdict so the next Ensure runs it again.
func ResetForTest() {
	mu.Lock()
	defer mu.Unlock()
	checked, failure = false, ""
	active.Store(false)
}

// selfCheck runs a few products on both kernels: both contracting layouts of each operand
// (the forward and the two gradient products of a dense layer), a batch axis, a
// contraction over two kc blocks, and odd sizes that exercise edge tiles.
func selfCheck(backend backends.Backend) error {
	cases := []struct {
		lhs, rhs               []int
		lhsC, lhsB, rhsC, rhsB []int
	}{
		{[]int{17, 33}, []int{33, 19}, []int{1}, nil, []int{0}, nil},
		{[]int{33, 17}, []int{33, 19}, []int{0}, nil, []int{0}, nil},
		{[]int{17, 33}, []int{19, 33}, []int{1}, nil, []int{1}, nil},
		{[]int{33, 17}, []int{19, 33}, []int{0}, nil, []int{1}, nil},
		{[]int{3, 7, 40}, []int{3, 40, 9}, []int{2}, []int{0}, []int{1}, []int{0}},
		{[]int{65, 300}, []int{300, 40}, []int{1}, nil, []int{0}, nil},
	}
	rng := rand.New(rand.NewPCG(0x5e1f, 0xc43c))
	for _, tc := range cases {
		exec, err := graph.NewExecAny(backend, func(l, r *graph.Node) *graph.Node {
			return graph.DotGeneral(l, tc.lhsC, tc.lhsB, r, tc.rhsC, tc.rhsB)
		})
		if err != nil {
			return err
		}
		l := tensors.FromFlatDataAndDimensions(randomData(rng, tc.lhs), tc.lhs...)
		r := tensors.FromFlatDataAndDimensions(randomData(rng, tc.rhs), tc.rhs...)
		run := func(fast bool) ([]float32, error) {
			active.Store(fast)
			out, err := exec.Exec(l, r)
			if err != nil {
				return nil, err
			}
			return tensors.MustCopyFlatData[float32](out[0]), nil
		}
		stock, err := run(false)
		if err != nil {
			return err
		}
		before, _ := Calls()
		fast, err := run(true)
		active.Store(false)
		if err != nil {
			return err
		}
		if after, _ := Calls(); after == before {
			return fmt.Errorf("DotGeneral %v x %v did not reach the fast kernel", tc.lhs, tc.rhs)
		}
		var maxDiff, maxAbs float64
		for i := range stock {
			maxDiff = max(maxDiff, math.Abs(float64(fast[i])-float64(stock[i])))
			maxAbs = max(maxAbs, math.Abs(float64(stock[i])))
		}
		if !(maxDiff <= Tolerance*maxAbs) {
			return fmt.Errorf("DotGeneral %v x %v (contracting %v, %v; batch %v, %v) differs from the stock kernel by %.3g relative (tolerance %g)",
				tc.lhs, tc.rhs, tc.lhsC, tc.rhsC, tc.lhsB, tc.rhsB, maxDiff/maxAbs, Tolerance)
		}
		exec.Finalize()
	}
	if err := selfCheckConv(backend, rng); err != nil {
		return err
	}
	if err := selfCheckRows(backend, rng); err != nil {
		return err
	}
	return selfCheckPool(backend, rng)
}

// selfCheckConv runs a stride-1 and a stride-2 convolution with both gradients (three
// ConvGenerals each: with padding, with an input dilation, with a kernel dilation) on the
// fast path and on simplego's loops, which must agree within Tolerance.
func selfCheckConv(backend backends.Backend, rng *rand.Rand) error {
	for _, stride := range []int{1, 2} {
		exec, err := graph.NewExecAny(backend, func(x, k, r *graph.Node) []*graph.Node {
			out := conv.Same3x3(x, k, stride)
			g := graph.Gradient(graph.ReduceAllSum(graph.Mul(out, r)), x, k)
			return []*graph.Node{out, g[0], g[1]}
		})
		if err != nil {
			return err
		}
		o := (7 + stride - 1) / stride
		x := tensors.FromFlatDataAndDimensions(randomData(rng, []int{7, 7, 3, 5}), 7, 7, 3, 5)
		k := tensors.FromFlatDataAndDimensions(randomData(rng, []int{3, 3, 5, 17}), 3, 3, 5, 17)
		r := tensors.FromFlatDataAndDimensions(randomData(rng, []int{o, o, 3, 17}), o, o, 3, 17)
		stock, err := execOn(false, exec, x, k, r)
		if err != nil {
			return err
		}
		before := ConvCalls()
		fast, err := execOn(true, exec, x, k, r)
		if err != nil {
			return err
		}
		exec.Finalize()
		if ConvCalls() != before+3 {
			return fmt.Errorf("a convolution (stride %d) did not reach the fast path", stride)
		}
		for i := range stock {
			var maxDiff, maxAbs float64
			for j := range stock[i] {
				maxDiff = max(maxDiff, math.Abs(float64(fast[i][j])-float64(stock[i][j])))
				maxAbs = max(maxAbs, math.Abs(float64(stock[i][j])))
			}
			if !(maxDiff <= Tolerance*maxAbs) {
				return fmt.Errorf("convolution %d of stride %d differs from simplego's by %.3g relative (tolerance %g)",
					i, stride, maxDiff/maxAbs, Tolerance)
			}
		}
	}
	return nil
}

// execOn runs a self-check's graph with the fast kernels on or off and returns the values
// of its outputs.
func execOn(fast bool, exec *graph.Exec, inputs ...any) ([][]float32, error) {
	active.Store(fast)
	defer active.Store(false)
	out, err := exec.Exec(inputs...)
	if err != nil {
		return nil, err
	}
	vals := make([][]float32, len(out))
	for i, t := range out {
		vals[i] = tensors.MustCopyFlatData[float32](t)
	}
	return vals, nil
}

// selfCheckRows runs a row gather, a row scatter-sum, a logistic, a dropout mask (a
// RandomUniform's bits, their conversion, Abs and Min, a comparison and the mask's
// conversion), a transpose and a concatenation on the fast path and on simplego's. They must agree bit for bit
// (both copy, both add in index order, both draw the same bits and convert and compare them
// the same way), except the logistic, which the fast path evaluates in float32: within
// logisticTolerance.
func selfCheckRows(backend backends.Backend, rng *rand.Rand) error {
	const rows, width, n = 7, 5, 23
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(rng.IntN(rows))
	}
	exec, err := graph.NewExecAny(backend, func(x, ix, u, state *graph.Node) []*graph.Node {
		_, uniform := graph.RandomUniform(state, u.Shape())
		mask := graph.ConvertDType(graph.GreaterOrEqual(uniform, graph.Scalar(u.Graph(), u.DType(), 0.1)), u.DType())
		return []*graph.Node{graph.Gather(x, ix), graph.ScatterSum(x, ix, u, false, false), graph.Logistic(u), graph.Mul(mask, u),
			graph.TransposeAllAxes(u, 2, 0, 1), graph.Concatenate([]*graph.Node{u, graph.Neg(u)}, 1)}
	})
	if err != nil {
		return err
	}
	defer exec.Finalize()
	x := tensors.FromFlatDataAndDimensions(randomData(rng, []int{rows, 2, width}), rows, 2, width)
	ix := tensors.FromFlatDataAndDimensions(idx, n, 1)
	u := tensors.FromFlatDataAndDimensions(randomData(rng, []int{n, 2, width}), n, 2, width)
	state, err := graph.RNGStateFromSeed(rng.Int64())
	if err != nil {
		return err
	}
	run := func(fast bool) ([][]float32, error) {
		active.Store(fast)
		defer active.Store(false)
		out, err := exec.Exec(x, ix, u, state)
		if err != nil {
			return nil, err
		}
		vals := make([][]float32, len(out))
		for i, t := range out {
			vals[i] = tensors.MustCopyFlatData[float32](t)
		}
		return vals, nil
	}
	stock, err := run(false)
	if err != nil {
		return err
	}
	before, beforeMem, beforeRNG := RowCalls(), MemCalls(), RNGCalls()
	beforeTranspose, beforeConcat := TransposeCalls(), ConcatenateCalls()
	fast, err := run(true)
	if err != nil {
		return err
	}
	if RowCalls() != before+2 || MemCalls() == beforeMem || RNGCalls() != beforeRNG+1 ||
		TransposeCalls() != beforeTranspose+1 || ConcatenateCalls() != beforeConcat+1 {
		return fmt.Errorf("a row gather, scatter, logistic, random draw, transpose or concatenation did not reach the fast path")
	}
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	near := func(a, b float32) bool { return math.Abs(float64(a)-float64(b)) <= logisticTolerance }
	for i := range stock {
		eq := same
		if i == 2 { // the logistic
			eq = near
		}
		if !slices.EqualFunc(stock[i], fast[i], eq) {
			return fmt.Errorf("row gather, scatter-sum, logistic, dropout mask, transpose or concatenation differs from simplego's")
		}
	}
	return nil
}

func randomData(rng *rand.Rand, dims []int) []float32 {
	n := 1
	for _, d := range dims {
		n *= d
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}
