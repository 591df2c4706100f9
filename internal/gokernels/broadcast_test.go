package gokernels

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestBroadcastMatchesSimplego: every pattern of broadcast axes (leading, trailing, middle,
// alternating, a scalar, dimensions of 1 on both sides) gives simplego's values through the
// fast path; int32 still goes to simplego.
func TestBroadcastMatchesSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(21, 22))
	// Each operand has the output's rank, 1 on the broadcast axes (as BroadcastToDims builds
	// them); "prefix" cases have a lower rank (BroadcastPrefix).
	cases := []struct {
		name         string
		operand, out []int
		prefix       bool
	}{
		{"bias-rows", []int{1, 4}, []int{3, 4}, false},
		{"row-scale", []int{3, 1}, []int{3, 5}, false},
		{"scalar", []int{}, []int{2, 3}, false},
		{"same", []int{2, 3}, []int{2, 3}, false},
		{"middle", []int{2, 1, 4}, []int{2, 3, 4}, false},
		{"outer-two", []int{1, 3, 1}, []int{2, 3, 5}, false},
		{"alternating", []int{2, 1, 3, 1}, []int{2, 4, 3, 5}, false},
		{"ones-both", []int{1, 1, 4}, []int{1, 3, 4}, false},
		{"unit-out-axis", []int{3, 1, 1, 4}, []int{3, 1, 2, 4}, false},
		{"groups-2", []int{1, 3, 4, 1}, []int{7, 3, 4, 2}, false},
		{"groups-3", []int{1, 3, 4, 1}, []int{49, 3, 4, 3}, false},
		{"groups-2-wide", []int{1, 5, 7, 1}, []int{9, 5, 7, 2}, false},
		{"repeat-outer-two", []int{1, 1, 5, 7, 1}, []int{3, 4, 5, 7, 2}, false},
		{"repeat-inner-only", []int{3, 1, 5, 1}, []int{3, 4, 5, 2}, false},
		{"inner-copy-outer-fill", []int{1, 3, 1, 20}, []int{4, 3, 2, 20}, false},
		// Large enough to be shared between workers: GroupNorm's statistics spread over every
		// position (one block of rows), and blocks repeated along an outer axis.
		{"groups-1-large", []int{1, 32, 32, 1}, []int{196, 32, 32, 1}, false},
		{"groups-2-large", []int{1, 32, 32, 1}, []int{196, 32, 32, 2}, false},
		{"prefix", []int{784}, []int{512, 784}, true},
		{"prefix-two", []int{2, 3}, []int{4, 5, 2, 3}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := tensors.FromFlatDataAndDimensions(randomData(rng, c.operand), c.operand...)
			sameBits(t, b, BroadcastCalls, true, func(xs []*graph.Node) *graph.Node {
				if c.prefix {
					return graph.BroadcastPrefix(xs[0], c.out[:len(c.out)-len(c.operand)]...)
				}
				return graph.BroadcastToDims(xs[0], c.out...)
			}, in)
		})
	}
	t.Run("int32-stock", func(t *testing.T) {
		in := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3}, 1, 3)
		sameBits(t, b, BroadcastCalls, false, func(xs []*graph.Node) *graph.Node {
			wide := graph.BroadcastToDims(graph.ConvertDType(xs[0], dtypes.Int32), 2, 3)
			return graph.ConvertDType(wide, dtypes.Float32)
		}, in)
	})
}
