package networks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/ddpm-runner/ddpm-runner/internal/conv"
	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// UNet is a U-Net denoiser in one of two layouts, chosen by ResBlocks.
//
// ResBlocks = 0 is the small layout: per level one residual block, whose output is the
// level's skip, then a strided convolution down (no skip from the input convolution); one
// middle block; per level up one block on the concatenated skip, then nearest-neighbour
// upsampling and a convolution. ResBlocks >= 1 is the layout of DDPM's and Improved DDPM's
// U-Nets, as openai/improved-diffusion's UNetModel builds it (see unet_layout.go).
//
// With Norm "group", the residual blocks are DDPM's: GroupNorm before each SiLU, and the
// second convolution of each block and the output convolution initialised to zero, so that
// every block starts as the identity and the network's first prediction is 0. Without it (the
// default, Norm "none", small layout only), nothing bounds the activations at initialisation
// and a deep or wide U-Net's first losses are far above 1 (about 230 for the main job's
// network at 14x14, 1800 for three levels at 28x28).
//
// The zero values of the other options are the small network as it always was: GroupNorm
// groups by normGroups, the timestep embedding added to the block, no dropout, convolutions
// in down- and upsampling, the network sees t itself.
//
// Inside, feature maps are laid out [positions, batch, channels] (positions = H*W, row-major),
// which makes the im2col convolution one Gather on the leading axis and one DotGeneral.
type UNet struct {
	Channels int    // channels at the first level
	Mults    []int  // channel multiplier per level; len(Mults) levels, halving resolution between them
	Norm     string // "none" or "group" (see above)
	// ResBlocks is the number of residual blocks per level of improved-diffusion's layout;
	// 0 is the small layout.
	ResBlocks int
	// Attention lists the resolutions (a level's height in pixels) whose residual blocks
	// are each followed by self-attention (improved-diffusion's layout only; its middle
	// block always has attention).
	Attention []int
	Heads     int     // attention heads (0 means 1)
	Dropout   float64 // dropout rate in each residual block while training
	// Groups is the number of GroupNorm groups; 0 chooses by normGroups (at most 8).
	Groups int
	// ScaleShift is Improved DDPM's conditioning: GN(h) (1 + scale) + shift, with scale
	// and shift from the timestep embedding, instead of adding the embedding to h.
	ScaleShift bool
	// PoolResample downsamples by 2x2 average pooling and upsamples by nearest neighbour
	// alone (improved-diffusion's conv_resample = False); otherwise convolutions do both.
	PoolResample bool
	// TimeScale multiplies t before its embedding (improved-diffusion's rescale_timesteps
	// is 1000/T); 0 means 1.
	TimeScale float64
	H, W, C   int // image layout, set by the engine from the data
	Classes   int // set by SetClasses for class-conditional training; 0 otherwise
}

// SetClasses implements plugins.ClassNetwork.
func (u *UNet) SetClasses(n int) { u.Classes = n }

// ApplyClass implements plugins.ClassNetwork: the class's learned embedding is added to the
// timestep embedding that every residual block receives.
func (u *UNet) ApplyClass(ctx *context.Context, xt, t, label *Node, outDim int) *Node {
	return u.apply(ctx, xt, t, label, outDim)
}

// NeedsRandom implements plugins.RandomNetwork: dropout draws its masks from the training
// step's random stream.
func (u *UNet) NeedsRandom() bool { return u.Dropout > 0 }

// Normalisations of the U-Net's residual blocks.
const (
	NormNone  = "none"
	NormGroup = "group"
)

// SetImageShape implements plugins.ImageNetwork.
func (u *UNet) SetImageShape(h, w, c int) { u.H, u.W, u.C = h, w, c }

// CheckImageShape implements plugins.ImageShapeChecker: average pooling needs even sides
// wherever it halves them, every listed attention resolution must be a level's, and the
// heads must divide the channels of every level with attention.
func (u *UNet) CheckImageShape(h, w, c int) error {
	heights := map[int]bool{}
	for l, m := range u.Mults {
		heights[h] = true
		if u.heads() > 1 && (u.attends(h) || l == len(u.Mults)-1 && u.ResBlocks > 0) && u.Channels*m%u.heads() != 0 {
			return fmt.Errorf("heads = %d does not divide the %d channels of the level at %dx%d", u.heads(), u.Channels*m, h, w)
		}
		if l < len(u.Mults)-1 {
			if u.PoolResample && (h%2 != 0 || w%2 != 0) {
				return fmt.Errorf("resample_conv = false halves the level at %dx%d by average pooling, which needs even sides (%dx%d images)", h, w, u.H, u.W)
			}
			h, w = (h+1)/2, (w+1)/2
		}
	}
	for _, r := range u.Attention {
		if !heights[r] {
			return fmt.Errorf("attention at %d pixels: no level has that height (the levels of %dx%d images are %v high)", r, u.H, u.W, slices.Sorted(maps.Keys(heights)))
		}
	}
	return nil
}

// Apply implements plugins.Network.
func (u *UNet) Apply(ctx *context.Context, xt, t *Node, outDim int) *Node {
	return u.apply(ctx, xt, t, nil, outDim)
}

func (u *UNet) heads() int { return max(u.Heads, 1) }

// attends reports whether the blocks of a level h pixels high are followed by attention.
func (u *UNet) attends(h int) bool { return slices.Contains(u.Attention, h) }

func (u *UNet) apply(ctx *context.Context, xt, t, label *Node, outDim int) *Node {
	if u.H == 0 {
		panic("unet: image shape not set")
	}
	P := u.H * u.W
	if outDim%P != 0 {
		panic(fmt.Sprintf("unet: output width %d is not a multiple of %d positions", outDim, P))
	}
	c := &convCtx{impl: context.GetParamOr(ctx, plugins.ParamConv, plugins.ConvIm2col), norm: u.Norm == NormGroup,
		groups: u.Groups, scaleShift: u.ScaleShift, pool: u.PoolResample}
	if u.Dropout > 0 {
		if r := plugins.RandomOf(ctx, xt.Graph()); r != nil {
			c.dropout, c.random = u.Dropout, r
		}
	}
	tin := t
	if u.TimeScale != 0 && u.TimeScale != 1 {
		tin = MulScalar(ConvertDType(t, xt.DType()), u.TimeScale)
	}
	if u.ResBlocks > 0 {
		return u.applyImproved(ctx, c, xt, tin, label, outDim)
	}
	b := xt.Shape().Dimensions[0]
	outC := outDim / P
	emb := u.Channels * 4
	temb := TimestepEmbedding(tin, u.Channels, xt.DType())
	temb = Dense(ctx.In("temb0"), temb, emb)
	temb = Dense(ctx.In("temb1"), SiLU(temb), emb)
	if label != nil {
		temb = Add(temb, ClassEmbedding(ctx.In("class"), label, u.Classes, emb, xt.DType()))
	}

	x := TransposeAllAxes(Reshape(xt, b, P, u.C), 1, 0, 2) // [P, B, C]
	h, w := u.H, u.W
	hcur := c.conv(ctx.In("in"), x, h, w, 1, u.Channels)
	var skips []*Node
	type res struct{ h, w int }
	var sizes []res
	for l, m := range u.Mults {
		hcur = c.resBlock(ctx.Inf("down%d", l), smallBlock, hcur, temb, h, w, u.Channels*m)
		skips = append(skips, hcur)
		sizes = append(sizes, res{h, w})
		if l < len(u.Mults)-1 {
			hcur = c.conv(ctx.Inf("downsample%d", l), hcur, h, w, 2, u.Channels*m)
			h, w = (h+1)/2, (w+1)/2
		}
	}
	hcur = c.resBlock(ctx.In("mid"), smallBlock, hcur, temb, h, w, u.Channels*u.Mults[len(u.Mults)-1])
	for l := len(u.Mults) - 1; l >= 0; l-- {
		hcur = Concatenate([]*Node{hcur, skips[l]}, -1)
		hcur = c.resBlock(ctx.Inf("up%d", l), smallBlock, hcur, temb, h, w, u.Channels*u.Mults[l])
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

// blockScopes names the layers of a residual block (a path of scopes, "/"-separated).
type blockScopes struct{ norm1, conv1, emb, norm2, conv2, skip string }

// smallBlock is how the small layout has always named them; improved-diffusion's names are
// improvedBlock's.
var smallBlock = blockScopes{"norm1", "conv1", "temb", "norm2", "conv2", "skip"}

// in is ctx in the nested scopes of a "/"-separated path.
func in(ctx *context.Context, path string) *context.Context {
	for _, s := range strings.Split(path, "/") {
		ctx = ctx.In(s)
	}
	return ctx
}

// resBlock is x + conv(drop(silu(norm(conv(silu(norm(x))) + dense(silu(temb)))))), with a
// 1x1 projection of x when the channel count changes. With GroupNorm, the second
// convolution starts at zero. With scale-shift, the dense layer gives 2*cout values, scale
// then shift, and the second norm's output becomes norm(h) (1 + scale) + shift instead.
func (c *convCtx) resBlock(ctx *context.Context, s blockScopes, x, temb *Node, h, w, cout int) *Node {
	y, bias := c.convTerms(in(ctx, s.conv1), SiLU(c.normalise(in(ctx, s.norm1), x)), h, w, 1, cout)
	if c.scaleShift {
		e := Dense(in(ctx, s.emb), SiLU(temb), 2*cout) // [B, 2*cout]
		scale, shift := ExpandAxes(part(e, 0, 2), 0), ExpandAxes(part(e, 1, 2), 0)
		y = GroupNormModulated(in(ctx, s.norm2), Add(y, bias), c.groups, scale, shift)
	} else {
		// The convolution's bias and the timestep's term are added to each other first, so
		// that the activation takes one pass (and its gradient one sum over positions).
		e := ExpandAxes(Dense(in(ctx, s.emb), SiLU(temb), cout), 0) // [1, B, cout]
		y = c.normalise(in(ctx, s.norm2), Add(y, Add(bias, e)))
	}
	y = c.conv(c.zeroed(in(ctx, s.conv2)), c.drop(SiLU(y)), h, w, 1, cout)
	if x.Shape().Dimensions[2] != cout {
		x = Dense(in(ctx, s.skip), x, cout)
	}
	return Add(x, y)
}

// part is the k-th of n equal parts of x's last axis. It is taken with a mask and a sum
// rather than a slice, which the pure-Go backend cannot differentiate (see
// diffusion.Parameterization.Split).
func part(x *Node, k, n int) *Node {
	dims := x.Shape().Dimensions
	last := dims[len(dims)-1] / n
	parts := Reshape(x, append(append([]int{}, dims[:len(dims)-1]...), n, last)...) // [..., n, last]
	mask := make([]float32, n)
	mask[k] = 1
	m := Reshape(ConvertDType(Const(x.Graph(), mask), x.DType()), n, 1)
	return ReduceSum(Mul(parts, ExpandLeftToRank(m, parts.Rank())), parts.Rank()-2)
}

// drop is dropout (Srivastava et al. 2014) while training: each value is kept with
// probability 1 - rate and scaled by 1/(1 - rate), as torch.nn.Dropout does; the identity
// where the graph has no random stream (sampling, evaluation).
func (c *convCtx) drop(x *Node) *Node {
	if c.random == nil {
		return x
	}
	u := c.random.Uniform(x.Shape())
	keep := ConvertDType(GreaterOrEqual(u, Scalar(x.Graph(), x.DType(), c.dropout)), x.DType())
	return Mul(x, MulScalar(keep, 1/(1-c.dropout)))
}

// convCtx is how the U-Net's layers are built: the convolution's implementation, and
// whether blocks are normalised (with zero-initialised last convolutions).
type convCtx struct {
	impl       string
	norm       bool
	groups     int // GroupNorm groups; 0 chooses by normGroups
	scaleShift bool
	pool       bool // average pooling down and plain nearest upsampling (no convolutions)
	dropout    float64
	random     *plugins.Random // the training step's stream; nil for no dropout
}

// normalise is GroupNorm when the blocks are normalised, else the identity.
func (c *convCtx) normalise(ctx *context.Context, x *Node) *Node {
	if !c.norm {
		return x
	}
	return GroupNormN(ctx, x, c.groups)
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
	y, bias := c.convTerms(ctx, x, h, w, stride, cout)
	return Add(y, bias)
}

// convTerms is conv without its bias: the convolution's output and the bias, [1, 1, cout],
// for the caller to add.
func (c *convCtx) convTerms(ctx *context.Context, x *Node, h, w, stride, cout int) (y, bias *Node) {
	g := x.Graph()
	cin := x.Shape().Dimensions[2]
	b := x.Shape().Dimensions[1]
	kernel := ctx.VariableWithShape("kernel", shapes.Make(x.DType(), 9, cin, cout)).ValueGraph(g)
	bias = ctx.VariableWithShape("bias", shapes.Make(x.DType(), cout)).ValueGraph(g)
	oh, ow := (h+stride-1)/stride, (w+stride-1)/stride
	if c.impl == plugins.ConvNative {
		out := conv.Same3x3(Reshape(x, h, w, b, cin), Reshape(kernel, 3, 3, cin, cout), stride) // [oh, ow, B, cout]
		y = Reshape(out, oh*ow, b, cout)
	} else {
		y = Im2ColConv(x, kernel, h, w, stride)
	}
	return y, ExpandLeftToRank(bias, 3)
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
		Doc: "U-Net: the small layout (res_blocks = 0) or DDPM's and Improved DDPM's (res_blocks >= 1: attention, dropout, scale-shift)",
		Params: []plugins.Param{
			{Name: "channels", Type: plugins.Int, Default: 32, Min: plugins.Bound(1), Max: plugins.Bound(1024), Doc: "channels at full resolution"},
			{Name: "mults", Type: plugins.IntList, Default: []int{1, 2}, Min: plugins.Bound(1), Max: plugins.Bound(16), MinLen: 1, MaxLen: MaxLevels,
				Doc: "channel multiplier per level (one level per entry, resolution halves between levels)"},
			{Name: "norm", Type: plugins.String, Default: NormNone, Choices: []string{NormNone, NormGroup},
				Doc: "group: DDPM's blocks (GroupNorm before each SiLU, last convolutions starting at zero); none: plain blocks (res_blocks = 0 only)"},
			{Name: "res_blocks", Type: plugins.Int, Default: 0, Min: plugins.Bound(0), Max: plugins.Bound(MaxResBlocks), OmitDefault: true,
				Doc: "0: the small layout (one block per level, its output the skip; one middle block; one block per level up); " +
					"N >= 1: improved-diffusion's and DDPM's layout (input conv and every block and downsample a skip; N blocks per level down, " +
					"N + 1 up; middle block res, attention, res), with norm = \"group\""},
			{Name: "attention", Type: plugins.IntList, Default: []int{}, Min: plugins.Bound(1), Max: plugins.Bound(4096), MaxLen: MaxLevels, OmitDefault: true,
				Doc: "heights in pixels of the levels whose residual blocks are followed by self-attention, e.g. [16] (res_blocks >= 1)"},
			{Name: "heads", Type: plugins.Int, Default: 1, Min: plugins.Bound(1), Max: plugins.Bound(64), OmitDefault: true,
				Doc: "attention heads (must divide the channels of every level with attention)"},
			{Name: "dropout", Type: plugins.Float, Default: 0.0, Min: plugins.Bound(0), Max: plugins.Bound(1), ExclusiveMax: true, OmitDefault: true,
				Doc: "dropout rate in each residual block (before its last convolution) while training; masks drawn from the (seed, step) streams, off when sampling and evaluating"},
			{Name: "groups", Type: plugins.Int, Default: 0, Min: plugins.Bound(0), Max: plugins.Bound(1024), OmitDefault: true,
				Doc: "GroupNorm groups (must divide channels; the papers use 32); 0: the largest divisor of each layer's channels up to 8 with at least 4 channels a group"},
			{Name: "scale_shift", Type: plugins.Bool, Default: false, OmitDefault: true,
				Doc: "Improved DDPM's conditioning GroupNorm(h) (1 + scale) + shift, scale and shift from the timestep embedding (norm = \"group\")"},
			{Name: "resample_conv", Type: plugins.Bool, Default: true, OmitDefault: true,
				Doc: "convolutions in down- and upsampling (strided conv down; nearest + conv up); false: 2x2 average pooling down and nearest up alone (res_blocks >= 1)"},
			{Name: "time_scale", Type: plugins.Float, Default: 1.0, Min: plugins.Bound(0), ExclusiveMin: true, Max: plugins.Bound(1e6), OmitDefault: true,
				Doc: "the network sees t * time_scale (improved-diffusion's rescale_timesteps is 1000/T)"},
		},
		New: newUNet,
	})
}

// MaxResBlocks is the most residual blocks per level of a U-Net (see MaxLevels).
const MaxResBlocks = 8

// newUNet builds the unet plugin from its parameters, refusing combinations that the
// layouts do not have.
func newUNet(v plugins.Values) (plugins.Network, error) {
	u := &UNet{Channels: v.Int("channels"), Mults: v.Ints("mults"), Norm: v.String("norm"),
		ResBlocks: v.Int("res_blocks"), Attention: v.Ints("attention"), Heads: v.Int("heads"), Dropout: v.Float("dropout"),
		Groups: v.Int("groups"), ScaleShift: v.Bool("scale_shift"), PoolResample: !v.Bool("resample_conv"), TimeScale: v.Float("time_scale")}
	group := u.Norm == NormGroup
	switch {
	case u.ResBlocks > 0 && !group:
		return nil, fmt.Errorf("res_blocks = %d (improved-diffusion's layout) needs norm = %q", u.ResBlocks, NormGroup)
	case u.ResBlocks == 0 && len(u.Attention) > 0:
		return nil, fmt.Errorf("attention = %v needs res_blocks >= 1 (the small layout has no attention)", u.Attention)
	case u.ResBlocks == 0 && u.PoolResample:
		return nil, fmt.Errorf("resample_conv = false needs res_blocks >= 1 (the small layout always resamples with convolutions)")
	case u.ScaleShift && !group:
		return nil, fmt.Errorf("scale_shift = true needs norm = %q (it scales and shifts the GroupNorm's output)", NormGroup)
	case u.Groups > 0 && !group:
		return nil, fmt.Errorf("groups = %d needs norm = %q", u.Groups, NormGroup)
	case u.Groups > 0 && u.Channels%u.Groups != 0:
		return nil, fmt.Errorf("groups = %d does not divide channels = %d (every layer's channels are a multiple of channels)", u.Groups, u.Channels)
	}
	return u, nil
}
