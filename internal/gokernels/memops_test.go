package gokernels

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

// TestMemoryOpsMatchSimplego: element-wise ops (same shapes, a scalar on either side, an
// broadcast along any axes), unit-stride Slices and ReduceSums over any axes on the fast
// paths give simplego's bits, IEEE corner values included; the cases they do not cover
// (strided slices) still reach simplego.
func TestMemoryOpsMatchSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(9, 10))
	ops := []struct {
		name string
		f    func(x, y *graph.Node) *graph.Node
	}{{"add", graph.Add}, {"sub", graph.Sub}, {"mul", graph.Mul}, {"div", graph.Div}}
	shapes := []struct {
		name        string
		lhs, rhs    []int
		fast, onAdd bool // fast for every op, or for Add only
	}{
		{"same/odd", []int{3, 7}, []int{3, 7}, true, true},
		{"same/long", []int{1000, 37}, []int{1000, 37}, true, true},
		{"scalar-rhs", []int{5, 41}, []int{}, true, true},
		{"scalar-lhs", []int{}, []int{5, 41}, true, true},
		{"bias-rhs", []int{5, 3, 4}, []int{1, 1, 4}, true, true},
		{"bias-lhs", []int{1, 3, 4}, []int{5, 3, 4}, true, true},
		{"bias-rhs-wide", []int{5, 3, 40}, []int{1, 1, 40}, true, true},
		{"bias-lhs-wide", []int{1, 1, 40}, []int{5, 3, 40}, true, true},
		// Biases repeated to a run of many rows: narrow (the run ends inside the last rows),
		// a convolution's 16 channels shared between workers, and wider than the run.
		{"bias-rhs-narrow", []int{101, 7, 3}, []int{1, 1, 3}, true, true},
		{"bias-lhs-conv", []int{1, 1, 16}, []int{784, 32, 16}, true, true},
		{"bias-rhs-wider-than-run", []int{70, 3, 600}, []int{1, 1, 600}, true, true},
		{"row-scale-rhs", []int{6, 50}, []int{6, 1}, true, true},
		{"row-scale-lhs", []int{6, 1}, []int{6, 50}, true, true},
		{"middle-broadcast", []int{5, 3, 4}, []int{5, 1, 4}, true, true},
		{"middle-broadcast-wide", []int{5, 3, 40}, []int{5, 1, 40}, true, true},
		{"outer", []int{6, 1}, []int{1, 5}, true, true},
		// GroupNorm's statistics: [P, B, G, C/G] against [1, B, G, 1], on either side.
		{"groups-1", []int{7, 3, 4, 1}, []int{1, 3, 4, 1}, true, true},
		{"groups-2", []int{7, 3, 4, 2}, []int{1, 3, 4, 1}, true, true},
		{"groups-3-lhs", []int{1, 3, 4, 1}, []int{7, 3, 4, 3}, true, true},
		{"groups-9", []int{7, 3, 4, 9}, []int{1, 3, 4, 1}, true, true},
		{"groups-both", []int{7, 1, 4, 2}, []int{1, 3, 4, 1}, true, true},
		// Large enough to be split between workers.
		{"groups-split", []int{300, 8, 16, 2}, []int{1, 8, 16, 1}, true, true},
		// Wide enough that the statistics are spread into a contiguous block (odd widths:
		// the vector loops' tails run too), on either side, C/G of 2 and 3.
		{"groups-2-spread", []int{9, 5, 7, 2}, []int{1, 5, 7, 1}, true, true},
		{"groups-2-spread-lhs", []int{1, 5, 7, 1}, []int{9, 5, 7, 2}, true, true},
		{"groups-3-spread", []int{9, 3, 5, 3}, []int{1, 3, 5, 1}, true, true},
		{"groups-4-spread-split", []int{300, 8, 16, 4}, []int{1, 8, 16, 1}, true, true},
		{"groups-spread-both", []int{9, 1, 7, 2}, []int{1, 5, 7, 1}, true, true},
		{"attention-mask", []int{5, 2, 1, 3, 16}, []int{1, 1, 1, 3, 1}, true, true},
	}
	for _, op := range ops {
		for _, sh := range shapes {
			t.Run(op.name+"/"+sh.name, func(t *testing.T) {
				x, y := randTensor(rng, sh.lhs...), randTensor(rng, sh.rhs...)
				if len(sh.lhs) > 0 && len(sh.rhs) > 0 && sh.lhs[0] == 1000 {
					// IEEE corner values, which the vector and the scalar loops must treat alike.
					xs, ys := tensors.MustCopyFlatData[float32](x), tensors.MustCopyFlatData[float32](y)
					corner := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
						float32(math.NaN()), 1e-40, -3e-39, math.MaxFloat32, 1}
					for i := range corner {
						for j := range corner {
							xs[i*len(corner)+j], ys[i*len(corner)+j] = corner[i], corner[j]
						}
					}
					x, y = tensors.FromFlatDataAndDimensions(xs, sh.lhs...), tensors.FromFlatDataAndDimensions(ys, sh.rhs...)
				}
				sameBits(t, b, MemCalls, sh.fast || sh.onAdd && op.name == "add",
					func(xs []*graph.Node) *graph.Node { return op.f(xs[0], xs[1]) }, x, y)
			})
		}
	}
	// A scalar on the left (1 - sigmoid(x)) with IEEE corner values on both sides: the
	// reversed AVX loops must give a - b exactly, the sign of a zero included.
	corner := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 1e-40, -3e-39, math.MaxFloat32, 1, -1, 0.5}
	vec := make([]float32, 0, 40*len(corner))
	for range 40 {
		vec = append(vec, corner...)
	}
	for _, op := range ops {
		for _, sc := range corner {
			t.Run(fmt.Sprintf("%s/scalar-lhs-corner/%g", op.name, sc), func(t *testing.T) {
				sameBits(t, b, MemCalls, true, func(xs []*graph.Node) *graph.Node { return op.f(xs[0], xs[1]) },
					tensors.FromScalar(sc), tensors.FromFlatDataAndDimensions(vec, len(vec)))
			})
		}
	}
	t.Run("sqrt", func(t *testing.T) {
		x := tensors.MustCopyFlatData[float32](randTensor(rng, 1001))
		for i := range x {
			x[i] = float32(math.Abs(float64(x[i]))) * float32(i)
		}
		copy(x, []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), -1, float32(math.NaN()), 1e-40, math.MaxFloat32, 2})
		sameBits(t, b, MemCalls, true, func(xs []*graph.Node) *graph.Node { return graph.Sqrt(xs[0]) },
			tensors.FromFlatDataAndDimensions(x, 1001))
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
		// The concatenations' gradients in the U-Net, large enough to be shared between workers.
		{[]int{196, 32, 48}, []graph.SliceAxisSpec{graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, 32)}, true},
		{[]int{196, 32, 48}, []graph.SliceAxisSpec{graph.AxisRange(), graph.AxisRange(), graph.AxisRange(32, 48)}, true},
		{[]int{50, 40, 3, 21}, []graph.SliceAxisSpec{graph.AxisRange(3, 47), graph.AxisRange(1, 39), graph.AxisRange(), graph.AxisRange(2, 19)}, true},
		{[]int{400, 300}, []graph.SliceAxisSpec{graph.AxisRange(10, 390)}, true},
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
		{[]int{5, 3, 40}, []int{1, 2}, true}, {[]int{5, 3, 4}, []int{0, 1, 2}, true}, {[]int{5, 3, 4}, []int{1}, true},
		{[]int{5, 3, 40}, []int{1}, true}, {[]int{5, 3, 4, 2}, []int{0, 2}, true}, {[]int{2, 5, 3, 4, 2}, []int{1, 3}, true},
		// GroupNorm's sums over positions and the channels of a group.
		{[]int{49, 3, 4, 1}, []int{0, 3}, true}, {[]int{49, 3, 4, 2}, []int{0, 3}, true}, {[]int{49, 3, 4, 3}, []int{0, 3}, true},
		{[]int{49, 3, 4, 16}, []int{0, 3}, true}, {[]int{49, 3, 1, 4}, []int{0, 3}, true},
		// GroupNorm with C/G of 2 to 4 (the written-out row loops), odd widths, one split between workers.
		{[]int{9, 3, 7, 2}, []int{0, 3}, true}, {[]int{9, 5, 7, 3}, []int{0, 3}, true},
		{[]int{300, 8, 16, 4}, []int{0, 3}, true}, {[]int{3, 9, 1, 2}, []int{0, 3}, true},
		// Groups of 9 channels (one running sum per row), with the rows split between workers.
		{[]int{300, 5, 7, 9}, []int{0, 3}, true},
		// Leading axes into widths that take the 32- and 8-column register loops and a Go tail:
		// a bias gradient (16), 48, 64 and 77 columns.
		{[]int{300, 32, 16}, []int{0, 1}, true}, {[]int{70, 3, 48}, []int{0}, true},
		{[]int{9, 64}, []int{0}, true}, {[]int{40, 77}, []int{0}, true},
		// GroupNorm with one channel a group: the axis of one value drops out.
		{[]int{50, 4, 32, 1}, []int{0, 3}, true}, {[]int{5, 1, 1}, []int{1, 2}, false},
		// The attention's parts: a middle axis of three.
		{[]int{7, 2, 1, 3, 16}, []int{3}, true},
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
	for _, dims := range [][]int{{9, 4}, {9, 3, 5}, {9, 1}, {9, 16}, {9, 2, 8}, {9, 40}} { // rows of 8k floats take the AVX loops
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
	t.Run("avx", func(t *testing.T) {
		x := make([]float32, 2*8)
		u := make([]float32, 4*8)
		for i := range u {
			u[i] = float32(i)
		}
		out := graph.MustExecOnce(b, func(x, ix, u *graph.Node) *graph.Node { return graph.ScatterSum(x, ix, u, false, false) },
			tensors.FromFlatDataAndDimensions(x, 2, 8), [][]int32{{1}, {-1}, {2}, {1}}, tensors.FromFlatDataAndDimensions(u, 4, 8))
		got := tensors.MustCopyFlatData[float32](out)
		for j := range 8 {
			if got[j] != 0 || got[8+j] != float32(j)+float32(24+j) {
				t.Fatalf("scatter = %v: row 1 should be updates 0 and 3, row 0 untouched", got)
			}
		}
	})
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
	const rows, width, n = 1000, 64, 5000 // 64: the AVX loops
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

// BenchmarkReduceSumLeading sums a U-Net bias gradient ([784 32 16] over its first two axes)
// and a GroupNorm statistic of one channel a group ([784 32 32 1] over axes 0 and 3) on the
// fast path.
func BenchmarkReduceSumLeading(b *testing.B) {
	backend := enabledBackend(b)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ dims, axes []int }{{[]int{784, 32, 16}, []int{0, 1}}, {[]int{784, 32, 32, 1}, []int{0, 3}}} {
		exec, err := graph.NewExec(backend, func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, c.axes...) })
		if err != nil {
			b.Fatal(err)
		}
		x := randTensor(rng, c.dims...)
		b.Run(fmt.Sprintf("%v/%v", c.dims, c.axes), func(b *testing.B) {
			for range b.N {
				out, err := exec.Exec(x)
				if err != nil {
					b.Fatal(err)
				}
				out[0].FinalizeAll()
			}
		})
		exec.Finalize()
	}
}
