package fastdot

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// sameBits runs f on the inputs with the fast paths and with simplego's executors and fails
// unless the outputs agree bit for bit and the fast path counter moved (or, with wantFast
// false, stayed).
func sameBits(t *testing.T, b backends.Backend, counter func() int64, wantFast bool, f func(xs []*graph.Node) *graph.Node, inputs ...*tensors.Tensor) {
	t.Helper()
	exec, err := graph.NewExecAny(b, func(xs []*graph.Node) *graph.Node { return f(xs) })
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = in
	}
	run := func(fast bool) []float32 {
		active.Store(fast)
		defer active.Store(true)
		out, err := exec.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0])
	}
	stock := run(false)
	before := counter()
	fast := run(true)
	if ran := counter() != before; ran != wantFast {
		t.Fatalf("fast path ran: %v, want %v", ran, wantFast)
	}
	if !slices.EqualFunc(stock, fast, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) {
		t.Fatalf("fast path differs from simplego's:\nfast  %v\nstock %v", fast, stock)
	}
}

func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(randomData(rng, dims), dims...)
}

// TestMemoryOpsMatchSimplego: broadcast Adds, unit-stride Slices and leading or trailing
// ReduceSums on the fast paths give simplego's bits; the cases they do not cover (strided
// slices, middle-axis sums, same-shape adds) still reach simplego.
func TestMemoryOpsMatchSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(9, 10))
	adds := []struct{ big, small []int }{
		{[]int{5, 3, 4}, []int{1, 1, 4}}, {[]int{5, 3, 4}, []int{1, 3, 4}}, {[]int{7, 2}, []int{1, 2}},
	}
	for _, c := range adds {
		for _, smallFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("add/%v+%v/swapped=%v", c.big, c.small, smallFirst), func(t *testing.T) {
				sameBits(t, b, MemCalls, true, func(xs []*graph.Node) *graph.Node {
					if smallFirst {
						return graph.Add(xs[1], xs[0])
					}
					return graph.Add(xs[0], xs[1])
				}, randTensor(rng, c.big...), randTensor(rng, c.small...))
			})
		}
	}
	t.Run("add/same-shape", func(t *testing.T) {
		sameBits(t, b, MemCalls, false, func(xs []*graph.Node) *graph.Node { return graph.Add(xs[0], xs[1]) },
			randTensor(rng, 3, 4), randTensor(rng, 3, 4))
	})
	slicesCases := []struct {
		dims  []int
		specs []graph.SliceAxisSpec
		fast  bool
	}{
		{[]int{6, 5, 4}, []graph.SliceAxisSpec{graph.AxisRange(1, 5)}, true},
		{[]int{6, 5, 4}, []graph.SliceAxisSpec{graph.AxisRange(), graph.AxisRange(2, 4)}, true},
		{[]int{6, 5, 4}, []graph.SliceAxisSpec{graph.AxisRange(), graph.AxisRange(), graph.AxisRange(1, 3)}, true},
		{[]int{6, 5, 4}, []graph.SliceAxisSpec{graph.AxisRange(2, 3), graph.AxisRange(1, 4), graph.AxisRange(0, 2)}, true},
		{[]int{6, 5}, []graph.SliceAxisSpec{graph.AxisRange(0, 6).Stride(2)}, false},
	}
	for _, c := range slicesCases {
		t.Run(fmt.Sprintf("slice/%v/%v", c.dims, c.specs), func(t *testing.T) {
			sameBits(t, b, MemCalls, c.fast, func(xs []*graph.Node) *graph.Node { return graph.Slice(xs[0], c.specs...) },
				randTensor(rng, c.dims...))
		})
	}
	sums := []struct {
		dims, axes []int
		fast       bool
	}{
		{[]int{50, 3, 4}, []int{0, 1}, true}, {[]int{50, 3, 4}, []int{0}, true}, {[]int{5, 3, 40}, []int{2}, true},
		{[]int{5, 3, 40}, []int{1, 2}, true}, {[]int{5, 3, 4}, []int{0, 1, 2}, true}, {[]int{5, 3, 4}, []int{1}, false},
	}
	for _, c := range sums {
		t.Run(fmt.Sprintf("sum/%v/%v", c.dims, c.axes), func(t *testing.T) {
			sameBits(t, b, MemCalls, c.fast, func(xs []*graph.Node) *graph.Node { return graph.ReduceSum(xs[0], c.axes...) },
				randTensor(rng, c.dims...))
		})
	}
}

// TestRowGatherAndScatterMatchSimplego: whole-row gathers and scatter-sums of several ranks,
// with repeated indices (sums in index order), give simplego's bits; a gather clamps indices
// out of range as simplego (and XLA) do. (simplego's scatter panics on an index out of range;
// the fast one skips it, as XLA defines: see TestRowScatterSkipsIndicesOutOfRange.)
func TestRowGatherAndScatterMatchSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dims := range [][]int{{9, 4}, {9, 3, 5}, {9, 1}} {
		wild := []int32{0, 8, 3, 3, -2, 12, 5}
		t.Run(fmt.Sprintf("gather/%v", dims), func(t *testing.T) {
			sameBits(t, b, RowCalls, true, func(xs []*graph.Node) *graph.Node { return graph.Gather(xs[0], xs[1]) },
				randTensor(rng, dims...), tensors.FromFlatDataAndDimensions(wild, len(wild), 1))
		})
		idx := []int32{0, 8, 3, 3, 3, 8, 1, 5}
		ix := tensors.FromFlatDataAndDimensions(idx, len(idx), 1)
		t.Run(fmt.Sprintf("scatter/%v", dims), func(t *testing.T) {
			upd := append([]int{len(idx)}, dims[1:]...)
			sameBits(t, b, RowCalls, true, func(xs []*graph.Node) *graph.Node {
				return graph.ScatterSum(xs[0], xs[1], xs[2], false, false)
			}, randTensor(rng, dims...), ix, randTensor(rng, upd...))
		})
	}
}

// TestRowScatterSkipsIndicesOutOfRange: an update whose index is outside the operand is
// dropped (XLA's definition) and the others are summed in index order.
func TestRowScatterSkipsIndicesOutOfRange(t *testing.T) {
	b := enabledBackend(t)
	before := RowCalls()
	out := graph.MustExecOnce(b, func(x, ix, u *graph.Node) *graph.Node { return graph.ScatterSum(x, ix, u, false, false) },
		[][]float32{{1, 2}, {3, 4}}, [][]int32{{1}, {-1}, {2}, {1}}, [][]float32{{10, 20}, {100, 100}, {100, 100}, {0.5, 0.25}})
	if RowCalls() == before {
		t.Fatal("the fast scatter did not run")
	}
	if got := out.Value().([][]float32); !slices.Equal(got[0], []float32{1, 2}) || !slices.Equal(got[1], []float32{13.5, 24.25}) {
		t.Errorf("scatter = %v, want [[1 2] [13.5 24.25]]", got)
	}
}

// TestRowOpsSplitAcrossWorkersMatchSimplego: gathers and scatters big enough to be split
// between goroutines (repeated targets falling in both workers' ranges) still give
// simplego's bits.
func TestRowOpsSplitAcrossWorkersMatchSimplego(t *testing.T) {
	b := enabledBackend(t)
	if defaultWorkers() < 2 {
		t.Skip("one CPU: nothing to split")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	const rows, width, n = 1000, 64, 5000
	if rowWorkers(n*width) < 2 {
		t.Fatalf("%d floats would not be split", n*width)
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(rng.IntN(rows))
	}
	ix := tensors.FromFlatDataAndDimensions(idx, n, 1)
	sameBits(t, b, RowCalls, true, func(xs []*graph.Node) *graph.Node { return graph.Gather(xs[0], xs[1]) },
		randTensor(rng, rows, width), ix)
	sameBits(t, b, RowCalls, true, func(xs []*graph.Node) *graph.Node {
		return graph.ScatterSum(xs[0], xs[1], xs[2], false, false)
	}, randTensor(rng, rows, width), ix, randTensor(rng, n, width))
}
