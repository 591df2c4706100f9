package networks

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads like the equations
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// improved-diffusion's layout (UNet.ResBlocks >= 1), the U-Net of DDPM (Ho et al. 2020,
// hojonathanho/diffusion's models/unet.py) and Improved DDPM (Nichol & Dhariwal 2021,
// openai/improved-diffusion's unet.py UNetModel), built in the same order with the same
// layers:
//
//   - time_embed: sinusoid of t (width Channels, [cos, sin] as improved-diffusion's
//     timestep_embedding), Dense to 4*Channels, SiLU, Dense.
//   - input_blocks: the input convolution, whose output is the first skip; per level
//     ResBlocks residual blocks, each followed by attention when the level's height is in
//     Attention, each output a skip; then, except at the last level, a Downsample (a
//     strided convolution, or 2x2 average pooling with PoolResample), whose output is a
//     skip too.
//   - middle_block: residual block, attention, residual block.
//   - output_blocks: per level from the last, ResBlocks + 1 residual blocks, each on the
//     concatenation [h, the last skip not yet taken], each followed by attention under the
//     same rule; after the last block of every level but the first, an Upsample (nearest
//     neighbour, then a convolution unless PoolResample).
//   - out: GroupNorm, SiLU, a zero-initialised 3x3 convolution.
//
// A residual block is improved-diffusion's ResBlock: in_layers (GroupNorm, SiLU, conv3x3),
// emb_layers (SiLU, Dense to out channels, or 2*out with ScaleShift), out_layers (GroupNorm,
// SiLU, dropout, zero-initialised conv3x3), and a 1x1 projection of the input
// (skip_connection) when the channel count changes. Attention is attention.go's.
//
// The variable scopes (under the network's scope) are improved-diffusion's state_dict names
// with "." read as "/", so that a checkpoint maps one-to-one (ImprovedDiffusionTensors does
// it):
//
//	time_embed/0, time_embed/2                       Dense: weights [in, out], biases
//	label_emb                                        ClassEmbedding (class-conditional)
//	input_blocks/0/0                                 conv: kernel [9, in, out], bias
//	input_blocks/N/0/in_layers/0, .../out_layers/0   GroupNorm: scale, shift
//	input_blocks/N/0/in_layers/2, .../out_layers/3   conv
//	input_blocks/N/0/emb_layers/1                    Dense
//	input_blocks/N/0/skip_connection                 Dense (the 1x1 projection)
//	input_blocks/N/1/norm                            GroupNorm (attention)
//	input_blocks/N/1/qkv, input_blocks/N/1/proj_out  Dense
//	input_blocks/N/0/op                              conv (Downsample)
//	middle_block/0, middle_block/2                   residual blocks
//	middle_block/1                                   attention
//	output_blocks/N/0                                residual block
//	output_blocks/N/1                                attention, or Upsample without it
//	output_blocks/N/1/conv or output_blocks/N/2/conv conv (Upsample)
//	out/0                                            GroupNorm
//	out/2                                            conv
//
// Output layout: the runner's network output is [B, P*outC], and a predictor with a learned
// variance reads its first half (P*C values, an image in HWC order) as the mean part and
// its second half as the variance part (diffusion.Parameterization.Split). Here the out
// convolution's channels [k*C, (k+1)*C) make part k of the output, so channels [0, C) are
// the mean part and [C, 2C) the variance part, as improved-diffusion's th.split(out, C,
// dim=1): out/2's kernel maps onto out.2.weight without permuting channels. (The small
// layout instead lays [P, outC] out flat, so that each half holds half of the positions
// with all outC channels; it keeps that for its numbers' sake.)

// improvedBlock names a residual block's layers as improved-diffusion's ResBlock does.
var improvedBlock = blockScopes{"in_layers/0", "in_layers/2", "emb_layers/1", "out_layers/0", "out_layers/3", "skip_connection"}

func (u *UNet) applyImproved(ctx *context.Context, c *convCtx, xt, t, label *Node, outDim int) *Node {
	b := xt.Shape().Dimensions[0]
	P := u.H * u.W
	outC := outDim / P
	if outC%u.C != 0 {
		panic("unet: the output's channels are not a multiple of the image's")
	}
	emb := u.Channels * 4
	temb := TimestepEmbedding(t, u.Channels, xt.DType())
	temb = Dense(in(ctx, "time_embed/0"), temb, emb)
	temb = Dense(in(ctx, "time_embed/2"), SiLU(temb), emb)
	if label != nil {
		temb = Add(temb, ClassEmbedding(ctx.In("label_emb"), label, u.Classes, emb, xt.DType()))
	}

	inputs, outputs := ctx.In("input_blocks"), ctx.In("output_blocks")
	x := TransposeAllAxes(Reshape(xt, b, P, u.C), 1, 0, 2) // [P, B, C]
	h, w := u.H, u.W
	hcur := c.conv(in(inputs, "0/0"), x, h, w, 1, u.Channels)
	skips := []*Node{hcur}
	type res struct{ h, w int }
	var sizes []res
	for l, m := range u.Mults {
		sizes = append(sizes, res{h, w})
		for range u.ResBlocks {
			s := inputs.Inf("%d", len(skips))
			hcur = c.resBlock(s.In("0"), improvedBlock, hcur, temb, h, w, u.Channels*m)
			if u.attends(h) {
				hcur = c.attention(s.In("1"), hcur, u.heads())
			}
			skips = append(skips, hcur)
		}
		if l < len(u.Mults)-1 {
			hcur = c.downsample(inputs.Inf("%d", len(skips)).In("0"), hcur, h, w)
			h, w = (h+1)/2, (w+1)/2
			skips = append(skips, hcur)
		}
	}
	mid, last := ctx.In("middle_block"), u.Channels*u.Mults[len(u.Mults)-1]
	hcur = c.resBlock(mid.In("0"), improvedBlock, hcur, temb, h, w, last)
	hcur = c.attention(mid.In("1"), hcur, u.heads())
	hcur = c.resBlock(mid.In("2"), improvedBlock, hcur, temb, h, w, last)
	block := 0
	for l := len(u.Mults) - 1; l >= 0; l-- {
		for i := 0; i <= u.ResBlocks; i++ {
			s := outputs.Inf("%d", block)
			block++
			hcur = Concatenate([]*Node{hcur, skips[len(skips)-1]}, -1)
			skips = skips[:len(skips)-1]
			hcur = c.resBlock(s.In("0"), improvedBlock, hcur, temb, h, w, u.Channels*u.Mults[l])
			next := 1
			if u.attends(h) {
				hcur = c.attention(s.In("1"), hcur, u.heads())
				next = 2
			}
			if l > 0 && i == u.ResBlocks {
				to := sizes[l-1]
				hcur = c.upsample(s.Inf("%d", next), hcur, h, w, to.h, to.w)
				h, w = to.h, to.w
			}
		}
	}
	out := c.conv(c.zeroed(in(ctx, "out/2")), SiLU(c.normalise(in(ctx, "out/0"), hcur)), h, w, 1, outC) // [P, B, outC]
	k := outC / u.C
	return Reshape(TransposeAllAxes(Reshape(out, P, b, k, u.C), 1, 2, 0, 3), b, P*outC) // [B, k, P, C]
}

// downsample halves a [h*w, B, C] map: a stride-2 convolution (scope "op"), or 2x2 average
// pooling (even sides) with PoolResample.
func (c *convCtx) downsample(ctx *context.Context, x *Node, h, w int) *Node {
	if !c.pool {
		return c.conv(ctx.In("op"), x, h, w, 2, x.Shape().Dimensions[2])
	}
	oh, ow := h/2, w/2
	idx := make([][]int32, 0, oh*ow*4)
	for y := range oh {
		for xx := range ow {
			for _, d := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
				idx = append(idx, []int32{int32((2*y+d[0])*w + 2*xx + d[1])})
			}
		}
	}
	dims := x.Shape().Dimensions
	taps := Reshape(Gather(x, Const(x.Graph(), idx)), oh*ow, 4, dims[1], dims[2])
	return ReduceMean(taps, 1)
}

// upsample resizes a [h*w, B, C] map to [th*tw, B, C] by nearest neighbour, then convolves it
// (scope "conv") unless PoolResample.
func (c *convCtx) upsample(ctx *context.Context, x *Node, h, w, th, tw int) *Node {
	y := upsample(x, h, w, th, tw)
	if c.pool {
		return y
	}
	return c.conv(ctx.In("conv"), y, th, tw, 1, x.Shape().Dimensions[2])
}
