package gokernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestConcatenateMatchesSimplego: joins along the first, a middle and the last axis, of two
// and three inputs of different widths (one of a single value a row), and ones large enough
// to be shared between workers give simplego's values through the fast path. (simplego's own
// executor panics on an input with no values, so there is no such case.)
func TestConcatenateMatchesSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(41, 42))
	cases := []struct {
		axis   int
		shapes [][]int
	}{
		{0, [][]int{{2, 3}, {4, 3}}},
		{1, [][]int{{2, 3, 4}, {2, 1, 4}, {2, 5, 4}}},
		{2, [][]int{{3, 2, 5}, {3, 2, 1}}},
		// The U-Net's skip connections: [P, B, C] joined along the channels.
		{2, [][]int{{784, 32, 32}, {784, 32, 16}}},
		{2, [][]int{{196, 32, 32}, {196, 32, 32}}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("axis=%d/%v", c.axis, c.shapes), func(t *testing.T) {
			ins := make([]*tensors.Tensor, len(c.shapes))
			for i, s := range c.shapes {
				ins[i] = tensors.FromFlatDataAndDimensions(randomData(rng, s), s...)
			}
			sameBits(t, b, ConcatenateCalls, true, func(xs []*graph.Node) *graph.Node { return graph.Concatenate(xs, c.axis) }, ins...)
		})
	}
}
