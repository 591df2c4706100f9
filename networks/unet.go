package networks

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/ddpm-runner/ddpm-runner/internal/conv"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// UNet is a small U-Net: residual blocks with the timestep embedding added in each, strided
// convolutions down, nearest-neighbour upsampling and convolutions up, and skip connections
// between the two paths.
//
// With Norm "group", the residual blocks are DDPM's (as in improved-diffusion): GroupNorm
// before each SiLU, and the second convolution of each block and the output convolution
// initialised to zero, so that every block starts as the identity and the network's first
// prediction is 0. Without it (the default, Norm "none"), nothing bounds the activations at
// initialisation and a deep or wide U-Net's first losses are far above 1 (about 230 for the
// main job's network at 14x14, 1800 for three levels at 28x28).
//
// Inside, feature maps are laid out [positions, batch, channels] (positions = H*W, row-major),
// which makes the im2col convolution one Gather on the leading axis and one DotGeneral.
type UNet struct {
	Channels int    // channels at the first level
	Mults    []int  // channel multiplier per level; len(Mults) levels, halving resolution between them
	Norm     string // "none" or "group" (see above)
	H, W, C  int    // image layout, set by the engine from the data
	Classes  int    // set by SetClasses for class-conditional training; 0 otherwise
}

// SetClasses implements plugins.ClassNetwork.
func (u *UNet) SetClasses(n int) { u.Classes = n }

// ApplyClass implements plugins.ClassNetwork: the class's learned embedding is added to the
// timestep embedding that every residual block receives.
func (u *UNet) ApplyClass(ctx *context.Context, xt, t, label *Node, outDim int) *Node {
	return u.apply(ctx, xt, t, label, outDim)
}

// Normalisations of the U-Net's residual blocks.
const (
	NormNone  = "none"
	NormGroup = "group"
)

// SetImageShape implements plugins.ImageNetwork.
func (u *UNet) SetImageShape(h, w, c int) { u.H, u.W, u.C = h, w, c }

// Apply implements plugins.Network.
func (u *UNet) Apply(ctx *context.Context, xt, t *Node, outDim int) *Node {
	return u.apply(ctx, xt, t, nil, outDim)
}

func (u *UNet) apply(ctx *context.Context, xt, t, label *Node, outDim int) *Node {
	if u.H == 0 {
		panic("unet: image shape not set")
	}
	b := xt.Shape().Dimensions[0]
	P := u.H * u.W
	if outDim%P != 0 {
		panic(fmt.Sprintf("unet: output width %d is not a multiple of %d positions", outDim, P))
	}
	outC := outDim / P
	impl := context.GetParamOr(ctx, plugins.ParamConv, plugins.ConvIm2col)
	emb := u.Channels * 4
	temb := TimestepEmbedding(t, u.Channels, xt.DType())
	temb = Dense(ctx.In("temb0"), temb, emb)
	temb = Dense(ctx.In("temb1"), SiLU(temb), emb)
	if label != nil {
		temb = Add(temb, ClassEmbedding(ctx.In("class"), label, u.Classes, emb, xt.DType()))
	}

	x := TransposeAllAxes(Reshape(xt, b, P, u.C), 1, 0, 2) // [P, B, C]
	c := &convCtx{impl: impl, norm: u.Norm == NormGroup}
	h, w := u.H, u.W
	hcur := c.conv(ctx.In("in"), x, h, w, 1, u.Channels)
	var skips []*Node
	type res struct{ h, w int }
	var sizes []res
	for l, m := range u.Mults {
		hcur = resBlock(ctx.Inf("down%d", l), c, hcur, temb, h, w, u.Channels*m)
		skips = append(skips, hcur)
		sizes = append(sizes, res{h, w})
		if l < len(u.Mults)-1 {
			hcur = c.conv(ctx.Inf("downsample%d", l), hcur, h, w, 2, u.Channels*m)
			h, w = (h+1)/2, (w+1)/2
		}
	}
	hcur = resBlock(ctx.In("mid"), c, hcur, temb, h, w, u.Channels*u.Mults[len(u.Mults)-1])
	for l := len(u.Mults) - 1; l >= 0; l-- {
		hcur = Concatenate([]*Node{hcur, skips[l]}, -1)
		hcur = resBlock(ctx.Inf("up%d", l), c, hcur, temb, h, w, u.Channels*u.Mults[l])
		if l > 0 {
			to := sizes[l-1]
			hcur = upsample(hcur, h, w, to.h, to.w)
			h, w = to.h, to.w
			hcur = c.conv(ctx.Inf("upsample%d", l), hcur, h, w, 1, u.Channels*u.Mults[l])
		}
	}
	out := c.conv(c.zeroed(ctx.In("out")), SiLU(c.normalise(ctx.In("out_norm"), hcur)), h, w, 1, outC) // [P, B, outC]
	return Reshape(TransposeAllAxes(out, 1, 0, 2), b, P*outC)
}

// resBlock is x + conv(silu(conv(silu(x)) + dense(silu(temb)))), with a 1x1 projection of x
// when the channel count changes; with GroupNorm, each SiLU's input is normalised first and
// the second convolution starts at zero.
func resBlock(ctx *context.Context, c *convCtx, x, temb *Node, h, w, cout int) *Node {
	y := c.conv(ctx.In("conv1"), SiLU(c.normalise(ctx.In("norm1"), x)), h, w, 1, cout)
	y = Add(y, ExpandAxes(Dense(ctx.In("temb"), SiLU(temb), cout), 0)) // [1, B, cout]
	y = c.conv(c.zeroed(ctx.In("conv2")), SiLU(c.normalise(ctx.In("norm2"), y)), h, w, 1, cout)
	if x.Shape().Dimensions[2] != cout {
		x = Dense(ctx.In("skip"), x, cout)
	}
	return Add(x, y)
}

// convCtx is how the U-Net's layers are built: the convolution's implementation, and
// whether blocks are normalised (with zero-initialised last convolutions).
type convCtx struct {
	impl string
	norm bool
}

// normalise is GroupNorm when the blocks are normalised, else the identity.
func (c *convCtx) normalise(ctx *context.Context, x *Node) *Node {
	if !c.norm {
		return x
	}
	return GroupNorm(ctx, x)
}

// zeroed makes the variables of a layer start at zero when the blocks are normalised.
func (c *convCtx) zeroed(ctx *context.Context) *context.Context {
	if !c.norm {
		return ctx
	}
	return ctx.WithInitializer(initializers.Zero)
}

// conv is a 3x3 convolution with zero padding ("same") and the given stride on a
// [h*w, B, cin] map, returning [ceil(h/s)*ceil(w/s), B, cout]. The kernel is stored as
// [9, cin, cout] whatever the implementation.
func (c *convCtx) conv(ctx *context.Context, x *Node, h, w, stride, cout int) *Node {
	g := x.Graph()
	cin := x.Shape().Dimensions[2]
	b := x.Shape().Dimensions[1]
	kernel := ctx.VariableWithShape("kernel", shapes.Make(x.DType(), 9, cin, cout)).ValueGraph(g)
	bias := ctx.VariableWithShape("bias", shapes.Make(x.DType(), cout)).ValueGraph(g)
	oh, ow := (h+stride-1)/stride, (w+stride-1)/stride
	var y *Node
	if c.impl == plugins.ConvNative {
		out := conv.Same3x3(Reshape(x, h, w, b, cin), Reshape(kernel, 3, 3, cin, cout), stride) // [oh, ow, B, cout]
		y = Reshape(out, oh*ow, b, cout)
	} else {
		y = Im2ColConv(x, kernel, h, w, stride)
	}
	return Add(y, ExpandLeftToRank(bias, 3))
}

// Im2ColConv is a 3x3 "same" convolution of x [h*w, B, cin] with kernel [9, cin, cout] as a
// Gather of the nine neighbours of every output position (out-of-image neighbours read an
// appended zero row) followed by one DotGeneral. Both ops have gradients on every backend,
// which the pure-Go backend's native convolution does not.
//
// The patches are gathered as [Pout, B, 9, cin], rows of (position, example) pairs, so that
// the product contracts the two innermost axes (contiguous for the matmul) and its gradient
// comes back in the same order, with no transpose of the nine-fold patch tensor.
func Im2ColConv(x, kernel *Node, h, w, stride int) *Node {
	g := x.Graph()
	batch, cin := x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	zeros := ZerosLike(SliceAxis(x, 0, AxisRange(0, 1)))
	padded := Concatenate([]*Node{x, zeros}, 0) // [P+1, B, cin]; position P is the zero row
	rows := Reshape(padded, (h*w+1)*batch, cin) // row p*B + b
	idx := im2colIndices(h, w, stride, batch)
	oh, ow := (h+stride-1)/stride, (w+stride-1)/stride
	// One flat gather (GoMLX's Gather wants index rank <= operand rank + 1), then a free reshape.
	gathered := Reshape(Gather(rows, ConstTensor(g, tensors.FromFlatDataAndDimensions(idx, len(idx), 1))), oh*ow, batch, 9, cin)
	return DotGeneral(gathered, []int{2, 3}, nil, kernel, []int{0, 1}, nil) // [Pout, B, cout]
}

// im2colIndices lists, for each output position of a stride-s 3x3 same convolution on an
// h x w map, each of batch examples and each of the nine taps, the row position*batch +
// example that the tap reads, flat (Pout*batch*9 values); position h*w is the padding.
func im2colIndices(h, w, stride, batch int) []int32 {
	oh, ow := (h+stride-1)/stride, (w+stride-1)/stride
	out := make([]int32, 0, oh*ow*batch*9)
	for oy := range oh {
		for ox := range ow {
			for b := range batch {
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						y, x := oy*stride+dy, ox*stride+dx
						p := h * w
						if y >= 0 && y < h && x >= 0 && x < w {
							p = y*w + x
						}
						out = append(out, int32(p*batch+b))
					}
				}
			}
		}
	}
	return out
}

// upsample is nearest-neighbour resizing of a [h*w, B, C] map to [th*tw, B, C].
func upsample(x *Node, h, w, th, tw int) *Node {
	idx := make([][]int32, th*tw)
	for y := range th {
		for xx := range tw {
			idx[y*tw+xx] = []int32{int32((y*h/th)*w + xx*w/tw)}
		}
	}
	return Gather(x, Const(x.Graph(), idx))
}

func init() {
	plugins.Register(plugins.Plugin{
		Kind: plugins.KindNetwork, Name: "unet",
		Doc: "small U-Net: residual blocks with the timestep embedding, strided-conv down, upsample + conv up, skips",
		Params: []plugins.Param{
			{Name: "channels", Type: plugins.Int, Default: 32, Min: plugins.Bound(1), Max: plugins.Bound(1024), Doc: "channels at full resolution"},
			{Name: "mults", Type: plugins.IntList, Default: []int{1, 2}, Min: plugins.Bound(1), Max: plugins.Bound(16), MinLen: 1, MaxLen: MaxLevels,
				Doc: "channel multiplier per level (one level per entry, resolution halves between levels)"},
			{Name: "norm", Type: plugins.String, Default: NormNone, Choices: []string{NormNone, NormGroup},
				Doc: "group: DDPM's blocks (GroupNorm before each SiLU, last convolutions starting at zero); none: plain blocks"},
		},
		New: func(v plugins.Values) (plugins.Network, error) {
			return &UNet{Channels: v.Int("channels"), Mults: v.Ints("mults"), Norm: v.String("norm")}, nil
		},
	})
}
