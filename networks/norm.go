package networks

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// normEpsilon keeps GroupNorm's division finite on constant groups (PyTorch's default).
const normEpsilon = 1e-5

// maxGroups is the number of GroupNorm groups where the channels allow it: DDPM's U-Net
// uses 32 groups at 128 channels (4 channels a group); these smaller U-Nets keep groups of
// at least 4 channels up to 8 groups.
const maxGroups = 8

// normGroups is the number of groups for c channels: the largest divisor of c that is at
// most maxGroups and leaves at least 4 channels per group, or 1.
func normGroups(c int) int {
	for g := min(maxGroups, c/4); g > 1; g-- {
		if c%g == 0 {
			return g
		}
	}
	return 1
}

// GroupNorm normalises a [positions, batch, channels] map per example over each group of
// channels and all positions (Wu & He 2018): (x - mean) / sqrt(var + eps), then a learned
// per-channel scale (initially 1) and shift (initially 0). The groups are normGroups'.
func GroupNorm(ctx *context.Context, x *Node) *Node { return GroupNormN(ctx, x, 0) }

// GroupNormN is GroupNorm with the given number of groups (0: normGroups'), which must
// divide the channels.
func GroupNormN(ctx *context.Context, x *Node, groups int) *Node {
	return GroupNormModulated(ctx, x, groups, nil, nil)
}

// GroupNormModulated is GroupNormN followed, when modScale is not nil, by Improved DDPM's
// conditioning: GN(x) (1 + modScale) + modShift, both [1, batch, channels].
//
// Everything that varies per example and channel but not per position is folded into one
// coefficient and one offset, [1, B, G, C/G], computed on those small tensors: 1/sqrt(var +
// eps), the learned scale and shift and the modulation. The full-size map then sees four
// passes, (x - mean), its square (for the variance), a product and a sum, instead of
// eight; its gradient is written by hand (gradients.go). The value is the same function (the
// rounding differs from dividing by the deviation and then scaling: within float32's
// precision).
func GroupNormModulated(ctx *context.Context, x *Node, groups int, modScale, modShift *Node) *Node {
	dims := x.Shape().Dimensions
	p, b, c := dims[0], dims[1], dims[2]
	g := groups
	if g == 0 {
		g = normGroups(c)
	}
	if c%g != 0 {
		panic(fmt.Sprintf("unet: %d GroupNorm groups do not divide %d channels", g, c))
	}
	grouped := Reshape(x, p, b, g, c/g)
	scale := ctx.WithInitializer(initializers.One).VariableWithShape("scale", shapes.Make(x.DType(), c)).ValueGraph(x.Graph())
	shift := ctx.WithInitializer(initializers.Zero).VariableWithShape("shift", shapes.Make(x.DType(), c)).ValueGraph(x.Graph())
	k := Reshape(scale, 1, 1, g, c/g)                                     // [1, 1, G, C/G]
	offset := BroadcastToDims(Reshape(shift, 1, 1, g, c/g), 1, b, g, c/g) // [1, B, G, C/G]
	if modScale != nil {
		m := Reshape(AddScalar(modScale, 1), 1, b, g, c/g)
		k, offset = Mul(k, m), Add(Mul(offset, m), Reshape(modShift, 1, b, g, c/g))
	}
	out := groupNorm(grouped, k, offset)
	return Reshape(out, p, b, c)
}
