package gokernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestTransposeMatchesSimplego: permutations that keep the last axis (copied runs) and that
// move it (strided runs), axes of one value, merged axes, the identity and ones large enough
// to be shared between workers give simplego's values through the fast path.
func TestTransposeMatchesSimplego(t *testing.T) {
	b := enabledBackend(t)
	rng := rand.New(rand.NewPCG(31, 32))
	cases := []struct {
		dims, perm []int
	}{
		{[]int{3, 5}, []int{1, 0}},
		{[]int{4, 3, 5}, []int{2, 1, 0}},
		{[]int{4, 3, 5}, []int{0, 2, 1}},
		{[]int{4, 3, 5}, []int{0, 1, 2}},
		// The attention's heads: [P, B, H, D] to [B, H, P, D] and back, and the keys' [B, H, D, P].
		{[]int{49, 6, 1, 16}, []int{1, 2, 0, 3}},
		{[]int{6, 1, 49, 16}, []int{2, 0, 1, 3}},
		{[]int{49, 6, 1, 16}, []int{1, 2, 3, 0}},
		// Axes that stay adjacent merge; axes of one value drop out.
		{[]int{2, 3, 4, 5}, []int{2, 3, 0, 1}},
		{[]int{1, 7, 1, 3}, []int{3, 2, 1, 0}},
		{[]int{5, 1}, []int{1, 0}},
		// Large enough to be shared between workers, with the last axis kept and moved.
		{[]int{196, 32, 4, 16}, []int{1, 2, 0, 3}},
		{[]int{196, 32, 4, 16}, []int{1, 2, 3, 0}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%v", c.dims, c.perm), func(t *testing.T) {
			sameBits(t, b, TransposeCalls, true, func(xs []*graph.Node) *graph.Node { return graph.TransposeAllAxes(xs[0], c.perm...) },
				tensors.FromFlatDataAndDimensions(randomData(rng, c.dims), c.dims...))
		})
	}
}
