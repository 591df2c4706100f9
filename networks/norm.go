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
	mean := ReduceAndKeep(grouped, ReduceMean, 0, 3)
	centred := Sub(grouped, mean)
	variance := ReduceAndKeep(Square(centred), ReduceMean, 0, 3)
	normed := Reshape(Div(centred, Sqrt(AddScalar(variance, normEpsilon))), p, b, c)
	scale := ctx.WithInitializer(initializers.One).VariableWithShape("scale", shapes.Make(x.DType(), c)).ValueGraph(x.Graph())
	shift := ctx.WithInitializer(initializers.Zero).VariableWithShape("shift", shapes.Make(x.DType(), c)).ValueGraph(x.Graph())
	return Add(Mul(normed, ExpandLeftToRank(scale, 3)), ExpandLeftToRank(shift, 3))
}
