package networks

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// attention is improved-diffusion's AttentionBlock on a [P, B, C] map: x + proj_out(a),
// where a is multi-head self-attention over the P positions of GroupNorm(x) (scope "norm").
// One 1x1 projection (scope "qkv", Dense to 3C) gives the queries, keys and values of all
// heads, in improved-diffusion's channel order: head h owns channels [h*3C/heads,
// (h+1)*3C/heads), its query, key and value C/heads channels each, in that order (the
// QKVAttention of improved-diffusion's unet.py, which reshapes qkv to [B*heads, 3C/heads,
// P]). Queries and keys are each scaled by 1/sqrt(sqrt(C/heads)) before their product, the
// softmax runs over the keys, and a's channels are head-major. proj_out (Dense C to C)
// starts at zero with GroupNorm, so that the block starts as the identity.
//
// Both products are DotGenerals batched over (example, head); the query/key/value parts are
// taken with masks (part), as the pure-Go backend cannot differentiate a slice.
func (c *convCtx) attention(ctx *context.Context, x *Node, heads int) *Node {
	dims := x.Shape().Dimensions
	p, b, ch := dims[0], dims[1], dims[2]
	hc := ch / heads
	qkv := Reshape(Dense(ctx.In("qkv"), c.normalise(ctx.In("norm"), x), 3*ch), p, b, heads, 3*hc)
	scale := 1 / math.Sqrt(math.Sqrt(float64(hc)))
	q := MulScalar(part(qkv, 0, 3), scale) // [P, B, heads, hc]
	k := MulScalar(part(qkv, 1, 3), scale)
	v := part(qkv, 2, 3)
	weights := Softmax(DotGeneral(q, []int{3}, []int{1, 2}, k, []int{3}, []int{1, 2}), -1) // [B, heads, Pq, Pk]
	a := DotGeneral(weights, []int{3}, []int{0, 1}, v, []int{0}, []int{1, 2})              // [B, heads, Pq, hc]
	a = Reshape(TransposeAllAxes(a, 2, 0, 1, 3), p, b, ch)
	return Add(x, Dense(c.zeroed(ctx.In("proj_out")), a, ch))
}
