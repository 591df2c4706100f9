// Package conv is the convolution of the U-Net as one GoMLX ConvGeneral node per layer,
// with a gradient that every backend can run.
//
// GoMLX v0.26.0 differentiates ConvGeneral with a Reverse of the kernel, an op that the
// pure-Go backend does not have, so on that backend a convolution could not be trained
// (the U-Net used an im2col Gather and DotGeneral instead, whose nine-fold patch tensor and
// its scatter-add cost a quarter of a training step). The gradient registered here flips the
// kernel with a Gather of its taps instead, and expresses both operand gradients as
// ConvGenerals, as XLA does: the input gradient is a stride-1 convolution of the output
// gradient, dilated by the forward stride, with the flipped kernel; the kernel gradient is a
// convolution of the input by the output gradient, with the batch as the contracted axis.
// internal/gokernels runs all three on its GEMM kernel without materialising patches.
//
// Only convolutions built by New get this gradient (they are recorded in a table keyed by
// their node); any other ConvGeneral keeps GoMLX's own.
package conv

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// params describes a convolution built by New.
type params struct {
	strides  []int
	paddings [][2]int
}

// built records the convolutions made by New, so that the gradient knows their parameters
// (GoMLX keeps a node's ConvGeneral parameters unexported). Entries go with their nodes.
var built sync.Map // weak.Pointer[graph.Node] -> params

func init() {
	stock := graph.VJPRegistration[graph.NodeTypeConvGeneral]
	graph.VJPRegistration[graph.NodeTypeConvGeneral] = func(node *graph.Node, v []*graph.Node, outShape shapes.Shape) []*graph.Node {
		if p, ok := built.Load(weak.Make(node)); ok {
			return vjp(node, v[0], p.(params))
		}
		return stock(node, v, outShape)
	}
}

// axesFor returns the axes of a convolution whose input and output are laid out
// [spatial..., batch, channels] and whose kernel is [spatial..., in channels, out channels].
func axesFor(rank int) backends.ConvolveAxesConfig {
	spatial := make([]int, rank-2)
	for i := range spatial {
		spatial[i] = i
	}
	return backends.ConvolveAxesConfig{
		InputBatch: rank - 2, InputChannels: rank - 1, InputSpatial: spatial,
		KernelInputChannels: rank - 2, KernelOutputChannels: rank - 1, KernelSpatial: slices.Clone(spatial),
		OutputBatch: rank - 2, OutputChannels: rank - 1, OutputSpatial: slices.Clone(spatial),
	}
}

// New convolves x [spatial..., batch, cin] with kernel [k..., cin, cout] at the given strides,
// zero-padding each spatial axis by paddings[i] = {before, after}; the output is
// [o..., batch, cout] with o_i = (n_i + before + after - k_i) / stride_i + 1.
func New(x, kernel *graph.Node, strides []int, paddings [][2]int) *graph.Node {
	rank := x.Rank()
	if kernel.Rank() != rank || len(strides) != rank-2 || len(paddings) != rank-2 {
		panic(fmt.Sprintf("conv: input rank %d, kernel rank %d, %d strides and %d paddings do not agree",
			rank, kernel.Rank(), len(strides), len(paddings)))
	}
	ones := slices.Repeat([]int{1}, rank-2)
	out := graph.ConvGeneral(x, kernel, axesFor(rank), strides, paddings, ones, ones, 1, 1)
	key := weak.Make(out)
	built.Store(key, params{strides: slices.Clone(strides), paddings: slices.Clone(paddings)})
	runtime.AddCleanup(out, func(k weak.Pointer[graph.Node]) { built.Delete(k) }, key)
	return out
}

// Same3x3 is the U-Net's 3x3 convolution of x [h, w, batch, cin] with kernel [3, 3, cin,
// cout]: one pixel of zeros before each spatial axis and as many after as the stride needs
// to give ceil(n / stride) outputs (so output (y, x) reads rows stride*y-1 .. stride*y+1).
func Same3x3(x, kernel *graph.Node, stride int) *graph.Node {
	pads := make([][2]int, 2)
	for i := range pads {
		n := x.Shape().Dimensions[i]
		o := (n + stride - 1) / stride
		pads[i] = [2]int{1, (o-1)*stride + 2 - n}
	}
	return New(x, kernel, []int{stride, stride}, pads)
}

// vjp returns the gradients of out = New(x, kernel, strides, paddings) with respect to x and
// the kernel, given v = dLoss/dOut. Per spatial axis, with input length n, kernel length k,
// output length o, stride s and padding (lo, hi):
//
//	out[j] = sum_t x[j*s + t - lo] kernel[t]
//	dx[i]  = sum_t vs[i + lo - t] kernel[t], vs = v dilated by s (vs[j*s] = v[j])
//	       = a stride-1 convolution of vs, padded (k-1-lo, n-(o-1)*s-1+lo), by the flipped kernel
//	dk[t]  = sum_j x[j*s + t - lo] v[j]
//	       = a convolution of x, padded (lo, (k-1)+(o-1)*s+1-n-lo), by v dilated by s
func vjp(node, v *graph.Node, p params) []*graph.Node {
	in := node.Inputs()
	x, kernel := in[0], in[1]
	rank := x.Rank()
	ns, ks, os := x.Shape().Dimensions, kernel.Shape().Dimensions, node.Shape().Dimensions
	dxPads := make([][2]int, rank-2)
	dkPads := make([][2]int, rank-2)
	for i := range rank - 2 {
		n, k, o, s, lo := ns[i], ks[i], os[i], p.strides[i], p.paddings[i][0]
		dxPads[i] = [2]int{k - 1 - lo, n - (o-1)*s - 1 + lo}
		dkPads[i] = [2]int{lo, k - 1 + (o-1)*s + 1 - n - lo}
		if min(dxPads[i][0], dxPads[i][1], dkPads[i][0], dkPads[i][1]) < 0 {
			panic(fmt.Sprintf("conv: no gradient for padding %v with kernel %d, stride %d on %d: it would need a negative padding",
				p.paddings[i], k, s, n))
		}
	}

	// dx: v [o..., B, cout] by the flipped kernel read as [k..., cout, cin].
	axes := axesFor(rank)
	axes.KernelInputChannels, axes.KernelOutputChannels = rank-1, rank-2
	ones := slices.Repeat([]int{1}, rank-2)
	dx := graph.ConvGeneral(v, flipSpatial(kernel), axes, ones, dxPads, p.strides, ones, 1, 1)

	// dk: the batch axis is contracted (it plays the input channels), the input channels play
	// the batch; v is the kernel, dilated by the stride; the output has the kernel's layout.
	kaxes := axesFor(rank)
	kaxes.InputBatch, kaxes.InputChannels = rank-1, rank-2
	kaxes.KernelInputChannels, kaxes.KernelOutputChannels = rank-2, rank-1
	kaxes.OutputBatch, kaxes.OutputChannels = rank-2, rank-1
	dk := graph.ConvGeneral(x, v, kaxes, ones, dkPads, ones, p.strides, 1, 1)
	return []*graph.Node{dx, dk}
}

// flipSpatial reverses every spatial axis of a kernel [k..., cin, cout]: with the spatial axes
// leading, that is reversing the order of its k1*k2*... taps, one row gather.
func flipSpatial(kernel *graph.Node) *graph.Node {
	dims := kernel.Shape().Dimensions
	rank := len(dims)
	taps := 1
	for _, d := range dims[:rank-2] {
		taps *= d
	}
	idx := make([]int32, taps)
	for i := range idx {
		idx[i] = int32(taps - 1 - i)
	}
	rows := graph.Reshape(kernel, taps, dims[rank-2], dims[rank-1])
	flipped := graph.Gather(rows, graph.ConstTensor(kernel.Graph(), tensors.FromFlatDataAndDimensions(idx, taps, 1)))
	return graph.Reshape(flipped, dims...)
}
