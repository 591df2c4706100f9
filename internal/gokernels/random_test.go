package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestRNGBitGeneratorMatchesSimplego draws uniform values of several sizes (whole uint64s of
// bits and sizes that leave a partial one) and dtypes (uint32 and uint64 bits), twice in a
// row so that the second draw starts from the first one's new state, with the fast path and
// with simplego's: the values and the final state must be the same bits.
func TestRNGBitGeneratorMatchesSimplego(t *testing.T) {
	b := enabledBackend(t)
	for _, tc := range []struct {
		dtype dtypes.DType
		size  int
	}{
		{dtypes.Float32, 1}, {dtypes.Float32, 2}, {dtypes.Float32, 3}, {dtypes.Float32, 1001},
		{dtypes.Float32, 64 << 10}, {dtypes.Float64, 1}, {dtypes.Float64, 77},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.dtype, tc.size), func(t *testing.T) {
			shape := shapes.Make(tc.dtype, tc.size)
			exec, err := graph.NewExec(b, func(state *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
				state, first := graph.RandomUniform(state, shape)
				state, second := graph.RandomUniform(state, shape)
				return state, first, second
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			seed, _ := graph.RNGStateFromSeed(42)
			run := func(fast bool) (state []uint64, values []byte) {
				active.Store(fast)
				defer active.Store(true)
				out, err := exec.Exec(seed)
				if err != nil {
					t.Fatal(err)
				}
				state = tensors.MustCopyFlatData[uint64](out[0])
				for _, v := range out[1:] {
					v.ConstBytes(func(data []byte) { values = append(values, data...) })
				}
				return state, values
			}
			stockState, stockValues := run(false)
			before := RNGCalls()
			fastState, fastValues := run(true)
			if RNGCalls() != before+2 {
				t.Fatalf("the fast path ran %d times, want 2", RNGCalls()-before)
			}
			if !slices.Equal(fastValues, stockValues) {
				t.Errorf("the values differ from simplego's")
			}
			if !slices.Equal(fastState, stockState) {
				t.Errorf("new state %x, simplego's %x", fastState, stockState)
			}
		})
	}
}

// BenchmarkRNGBitGenerator draws a dropout mask's worth of uniform values (a [784 32 32]
// activation of the papers' U-Net) on the fast path and on simplego's.
func BenchmarkRNGBitGenerator(b *testing.B) {
	backend := enabledBackend(b)
	shape := shapes.Make(dtypes.Float32, 784, 32, 32)
	exec, err := graph.NewExec(backend, func(state *graph.Node) (*graph.Node, *graph.Node) {
		return graph.RandomUniform(state, shape)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	seed, _ := graph.RNGStateFromSeed(42)
	for _, fast := range []bool{false, true} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			active.Store(fast)
			defer active.Store(true)
			for range b.N {
				out, err := exec.Exec(seed)
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					o.FinalizeAll()
				}
			}
		})
	}
}

// TestDropoutOpsMatchSimplego: the ops between a RandomUniform's bits and a dropout mask
// (ConvertDType from uint32 and from bool, Abs, Min and GreaterOrEqual with a scalar on
// either side) give simplego's bits on random values and IEEE corner values (NaNs, signed
// zeros, infinities, subnormals, the scalar itself), in lengths with and without a tail after
// the last vector; a Min with a zero or NaN scalar still reaches simplego.
func TestDropoutOpsMatchSimplego(t *testing.T) {
	b := enabledBackend(t)
	corners := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0xffc00123), 1e-40, -1e-40, 0.1, -0.1, 0.99999994, 1, -3}
	rng := rand.New(rand.NewPCG(5, 6))
	values := func(n int) *tensors.Tensor {
		x := randomData(rng, []int{n})
		copy(x, corners)
		return tensors.FromFlatDataAndDimensions(x, n)
	}
	bits := func(n int) *tensors.Tensor {
		x := make([]uint32, n)
		for i := range x {
			x[i] = rng.Uint32()
		}
		copy(x, []uint32{0, 1, 0xffffffff, 0xffffff7f, 0xffffff80, 0x80000000, 16777217})
		return tensors.FromFlatDataAndDimensions(x, n)
	}
	scalar := func(v float64) func(xs []*graph.Node) *graph.Node {
		return func(xs []*graph.Node) *graph.Node { return graph.Scalar(xs[0].Graph(), dtypes.Float32, v) }
	}
	for _, n := range []int{13, 1 << 16, 1<<16 + 5} {
		for _, tc := range []struct {
			name  string
			fast  bool
			f     func(xs []*graph.Node) *graph.Node
			input func(int) *tensors.Tensor
		}{
			{"ConvertDType uint32", true, func(xs []*graph.Node) *graph.Node { return graph.ConvertDType(xs[0], dtypes.Float32) }, bits},
			{"Abs", true, func(xs []*graph.Node) *graph.Node { return graph.Abs(xs[0]) }, values},
			{"Min x s", true, func(xs []*graph.Node) *graph.Node { return graph.Min(xs[0], scalar(0.99999994)(xs)) }, values},
			{"Min s x", true, func(xs []*graph.Node) *graph.Node { return graph.Min(scalar(-0.1)(xs), xs[0]) }, values},
			{"Min x 0", false, func(xs []*graph.Node) *graph.Node { return graph.Min(xs[0], scalar(0)(xs)) }, values},
			{"GreaterOrEqual x s, ConvertDType bool", true, func(xs []*graph.Node) *graph.Node {
				return graph.ConvertDType(graph.GreaterOrEqual(xs[0], scalar(0.1)(xs)), dtypes.Float32)
			}, values},
			{"GreaterOrEqual s x, ConvertDType bool", true, func(xs []*graph.Node) *graph.Node {
				return graph.ConvertDType(graph.GreaterOrEqual(scalar(0.1)(xs), xs[0]), dtypes.Float32)
			}, values},
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, n), func(t *testing.T) {
				sameBits(t, b, MemCalls, tc.fast, tc.f, tc.input(n))
			})
		}
	}
}
