package gokernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// withCorners puts IEEE corner values (signed zeros, infinities, NaN, subnormals) at the start
// of a random tensor's values, where max and sum must treat them as simplego does.
func withCorners(rng *rand.Rand, dims ...int) *tensors.Tensor {
	v := randomData(rng, dims)
	corner := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 1e-40, -3e-39, math.MaxFloat32, -math.MaxFloat32, float32(math.Copysign(0, -1))}
	for i := range v {
		if i%7 == 3 {
			v[i] = corner[(i/7)%len(corner)]
		}
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// TestPoolingMatchesSimplego: max and sum windows over the spatial axes of channels-last
// tensors (the FID Inception's 3x3 poolings at strides 1 and 2, with and without padding,
// and other windows, strides, paddings and ranks) give simplego's bits on the fast path,
// corner values included; windows over the channel axis and dilated windows still go to
// simplego's.
func TestPoolingMatchesSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(30, 299))
	type win struct {
		dims, window, strides []int
		pad                   [][2]int
		windowDil             []int
		fast                  bool
	}
	p := func(v ...int) [][2]int {
		out := make([][2]int, len(v)/2)
		for i := range out {
			out[i] = [2]int{v[2*i], v[2*i+1]}
		}
		return out
	}
	cases := map[string]win{
		"3x3 stride 2 no padding (stem, B, D)": {[]int{2, 9, 11, 5}, []int{1, 3, 3, 1}, []int{1, 2, 2, 1}, p(0, 0, 0, 0, 0, 0, 0, 0), nil, true},
		"3x3 stride 1 padding 1 (A, C, E)":     {[]int{2, 7, 6, 9}, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, p(0, 0, 1, 1, 1, 1, 0, 0), nil, true},
		"split between workers":                {[]int{2, 35, 35, 48}, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, p(0, 0, 1, 1, 1, 1, 0, 0), nil, true},
		"8x8 one channel":                      {[]int{1, 8, 8, 1}, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, p(0, 0, 1, 1, 1, 1, 0, 0), nil, true},
		"uneven padding, 2x4 window":           {[]int{3, 7, 8, 4}, []int{1, 2, 4, 1}, []int{1, 3, 2, 1}, p(0, 0, 2, 0, 0, 3, 0, 0), nil, true},
		"window over the batch axis":           {[]int{4, 5, 5, 3}, []int{2, 3, 3, 1}, []int{2, 1, 1, 1}, p(1, 0, 1, 1, 1, 1, 0, 0), nil, true},
		"rank 3":                               {[]int{10, 12, 7}, []int{3, 5, 1}, []int{2, 3, 1}, p(1, 1, 2, 2, 0, 0), nil, true},
		"no strides given":                     {[]int{2, 6, 6, 3}, []int{1, 2, 2, 1}, nil, nil, nil, true},
		"window over the channels":             {[]int{2, 5, 5, 6}, []int{1, 3, 3, 2}, []int{1, 1, 1, 1}, p(0, 0, 1, 1, 1, 1, 0, 0), nil, false},
		"dilated window":                       {[]int{2, 9, 9, 3}, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, p(0, 0, 0, 0, 0, 0, 0, 0), []int{1, 2, 2, 1}, false},
	}
	for name, c := range cases {
		for _, op := range []backends.ReduceOpType{backends.ReduceOpMax, backends.ReduceOpSum} {
			t.Run(fmt.Sprintf("%s %s", name, op), func(t *testing.T) {
				sameBits(t, b, PoolCalls, c.fast, func(xs []*graph.Node) *graph.Node {
					return graph.BackendReduceWindow(xs[0], op, c.window, c.strides, nil, c.windowDil, c.pad)
				}, withCorners(rng, c.dims...))
			})
		}
	}
}

// TestMaxMatchesSimplego: Max of same-shape operands and with a scalar on either side (a ReLU)
// gives simplego's bits, corner values on both sides included; a broadcast along an axis goes
// to simplego's.
func TestMaxMatchesSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(31, 7))
	for _, c := range []struct {
		name       string
		left, rght []int
		fast       bool
	}{
		{"same shape", []int{3, 70000}, []int{3, 70000}, true},
		{"scalar right", []int{5, 9, 11}, []int{}, true},
		{"scalar left", []int{}, []int{2, 40000}, true},
		{"broadcast axis", []int{4, 6}, []int{1, 6}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, y := withCorners(rng, c.left...), withCorners(rng, c.rght...)
			if len(c.left) == len(c.rght) {
				y = withCorners(rand.New(rand.NewPCG(1, 1)), c.rght...)
			}
			sameBits(t, b, PoolCalls, c.fast, func(xs []*graph.Node) *graph.Node { return graph.Max(xs[0], xs[1]) }, x, y)
		})
	}
	// Every pair of corner values in both orders (NaN against NaN, +0 against -0).
	corner := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0x7fc00001), 1e-40, -3e-39, 1, -1}
	var xs, ys []float32
	for _, u := range corner {
		for _, v := range corner {
			xs, ys = append(xs, u), append(ys, v)
		}
	}
	sameBits(t, b, PoolCalls, true, func(v []*graph.Node) *graph.Node { return graph.Max(v[0], v[1]) },
		tensors.FromFlatDataAndDimensions(xs, len(xs)), tensors.FromFlatDataAndDimensions(ys, len(ys)))
}
