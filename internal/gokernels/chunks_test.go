package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestInChunksCoversEachIndexOnce: for sizes around the split threshold and several core
// counts, the parts cover [0, n) once each, in order, and inner boundaries fall on
// chunkAlign.
func TestInChunksCoversEachIndexOnce(t *testing.T) {
	saved := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(saved) })
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 63, minChunk - 1, minChunk, 2*minChunk - 1, 2 * minChunk, 2*minChunk + 65, 401408, 1 << 20} {
			t.Run(fmt.Sprintf("procs=%d/n=%d", procs, n), func(t *testing.T) {
				seen := make([]int32, n)
				var parts [][2]int
				done := make(chan [2]int, 16)
				inChunks(n, func(lo, hi int) { done <- [2]int{lo, hi} })
				close(done)
				for p := range done {
					parts = append(parts, p)
					for i := p[0]; i < p[1]; i++ {
						seen[i]++
					}
				}
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("index %d covered %d times (parts %v)", i, c, parts)
					}
				}
				if want := max(1, min(procs, n/minChunk)); len(parts) != want {
					t.Fatalf("%d parts, want %d", len(parts), want)
				}
				for _, p := range parts {
					if p[0] != 0 && p[0]%chunkAlign != 0 {
						t.Fatalf("part %v starts off a %d boundary", p, chunkAlign)
					}
				}
			})
		}
	}
}

// TestElementwiseSplitAcrossWorkersMatchSimplego: element-wise ops big enough to be split
// between goroutines (each case has a length that is not a multiple of chunkAlign, so a part
// ends inside a vector's worth of values) give simplego's bits.
func TestElementwiseSplitAcrossWorkersMatchSimplego(t *testing.T) {
	b := enabledBackend(t)
	if defaultWorkers() < 2 {
		t.Skip("one CPU: nothing to split")
	}
	rng := rand.New(rand.NewPCG(15, 16))
	const rows, width = 515, 257 // 132,355 values: split in two
	for _, tc := range []struct {
		name string
		f    func(xs []*graph.Node) *graph.Node
		ins  [][]int
	}{
		{"mul", func(xs []*graph.Node) *graph.Node { return graph.Mul(xs[0], xs[1]) }, [][]int{{rows, width}, {rows, width}}},
		{"div-scalar", func(xs []*graph.Node) *graph.Node { return graph.Div(xs[0], xs[1]) }, [][]int{{rows, width}, {}}},
		{"scalar-mul", func(xs []*graph.Node) *graph.Node { return graph.Mul(xs[1], xs[0]) }, [][]int{{rows, width}, {}}},
		{"bias", func(xs []*graph.Node) *graph.Node { return graph.Add(xs[0], xs[1]) }, [][]int{{rows, width}, {1, width}}},
		{"sqrt", func(xs []*graph.Node) *graph.Node { return graph.Sqrt(graph.Abs(xs[0])) }, [][]int{{rows, width}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ins []*tensors.Tensor
			for _, dims := range tc.ins {
				ins = append(ins, randTensor(rng, dims...))
			}
			sameBits(t, b, MemCalls, true, tc.f, ins...)
		})
	}
	// The logistic is not simplego's bits: split, it must give the bits of one call over
	// the whole buffer.
	t.Run("logistic", func(t *testing.T) {
		x := randomData(rng, []int{rows, width})
		out := graph.MustExecOnce(b, graph.Logistic, tensors.FromFlatDataAndDimensions(x, rows, width))
		want := make([]float32, len(x))
		logistic(want, x)
		if got := tensors.MustCopyFlatData[float32](out); !slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Fatal("the logistic split between goroutines differs from one call over the whole buffer")
		}
	})
}
