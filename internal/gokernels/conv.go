package gokernels

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// A float32 ConvGeneral (no channel or batch groups, any axes, strides, paddings and
// dilations) as one product on the GEMM kernel, with the patches never written out (an
// implicit im2col): the input is copied once into a zero-padded (and, for an input dilation,
// spread out) buffer, and the product's A operand is a view of that buffer through offset
// tables, row (output batch, output position) and column (kernel tap, input channel); B is
// the kernel, C the output. The U-Net's convolution, its input gradient (a convolution of the
// dilated output gradient) and its kernel gradient (the batch contracted) are all of this
// form (internal/conv). The kernel sums every output in one fixed order, so results do not
// depend on the number of workers; they are not simplego's bits (its loops sum in another
// order), so the self-check compares them with a tolerance, as for DotGeneral.

// convLayout mirrors simplego's convNode, the data of a ConvGeneral node.
type convLayout struct {
	axes                                             backends.ConvolveAxesConfig
	strides                                          []int
	paddings                                         [][2]int
	inputDilations                                   []int
	kernelDilations                                  []int
	channelGroupCount                                int
	batchGroupCount                                  int
	hasInputDilations, hasKernelDilations            bool
	inputStrides, inputSpatialStrides, kernelStrides []int
	dilatedInputSpatialDims                          []int
}

var (
	stockConv    executor
	convDataType atomic.Pointer[reflect.Type]
	convCalls    atomic.Int64
	convPlans    sync.Map // string -> *convPlan
	convEntries  atomic.Int64
)

// installConvHook puts execConvGeneral in simplego's table (once).
func installConvHook() {
	if stockConv == nil {
		stockConv = nodeExecutors[backends.OpTypeConvGeneral]
		nodeExecutors[backends.OpTypeConvGeneral] = execConvGeneral
	}
}

// ConvCalls is how many ConvGenerals ran on the fast path.
func ConvCalls() int64 { return convCalls.Load() }

// convPlan is how one convolution shape runs: the padded buffer's dimensions and where the
// input goes in it, and the offset tables of the product.
type convPlan struct {
	inDims, padDims []int
	lo, dil         []int // per input axis: zeros before, and the input dilation (1 off the spatial axes)
	direct          bool  // the input needs no padded copy
	m, n, k         int
	a, b            matrix       // the product's operands without their data: offsets into the (padded) input and the kernel
	split           *borderSplit // the same product without most of the padded copy (border.go), or nil
}

// newConvPlan works out the plan, or says why the fast path cannot run it.
func newConvPlan(inDims, kerDims, outDims []int, p *convLayout) (*convPlan, error) {
	ax := p.axes
	rank := len(inDims)
	if p.channelGroupCount > 1 || p.batchGroupCount > 1 {
		return nil, fmt.Errorf("grouped convolution")
	}
	if ax.OutputChannels != rank-1 {
		return nil, fmt.Errorf("output channels on axis %d, not the last", ax.OutputChannels)
	}
	spatial := len(ax.InputSpatial)
	if len(p.strides) != spatial || len(p.paddings) != spatial || len(p.inputDilations) != spatial ||
		(p.kernelDilations != nil && len(p.kernelDilations) != spatial) {
		return nil, fmt.Errorf("parameters of the wrong length")
	}
	pl := &convPlan{inDims: inDims, padDims: append([]int(nil), inDims...), lo: make([]int, rank), dil: make([]int, rank), direct: true}
	for i := range pl.dil {
		pl.dil[i] = 1
	}
	for i, a := range ax.InputSpatial {
		lo, hi := p.paddings[i][0], p.paddings[i][1]
		if lo < 0 || hi < 0 {
			return nil, fmt.Errorf("negative padding")
		}
		pl.lo[a], pl.dil[a] = lo, p.inputDilations[i]
		pl.padDims[a] = (inDims[a]-1)*pl.dil[a] + 1 + lo + hi
		if lo != 0 || hi != 0 || pl.dil[a] != 1 {
			pl.direct = false
		}
	}
	pStr, kStr := rowMajorStrides(pl.padDims), rowMajorStrides(kerDims)

	// Rows: the output's axes but the last, in order.
	var rowSizes, rowSteps []int
	for a := 0; a < rank-1; a++ {
		rowSizes = append(rowSizes, outDims[a])
		switch {
		case a == ax.OutputBatch:
			rowSteps = append(rowSteps, pStr[ax.InputBatch])
		default:
			i := indexOf(ax.OutputSpatial, a)
			if i < 0 {
				return nil, fmt.Errorf("output axis %d is neither batch, channels nor spatial", a)
			}
			rowSteps = append(rowSteps, p.strides[i]*pStr[ax.InputSpatial[i]])
		}
	}
	// Contraction: the kernel's axes but its output channels, in the kernel's order.
	var kSizes, kStepsA, kStepsB []int
	for a := range kerDims {
		if a == ax.KernelOutputChannels {
			continue
		}
		kSizes = append(kSizes, kerDims[a])
		kStepsB = append(kStepsB, kStr[a])
		if a == ax.KernelInputChannels {
			kStepsA = append(kStepsA, pStr[ax.InputChannels])
			continue
		}
		i := indexOf(ax.KernelSpatial, a)
		if i < 0 {
			return nil, fmt.Errorf("kernel axis %d is neither channels nor spatial", a)
		}
		d := 1
		if p.kernelDilations != nil {
			d = max(p.kernelDilations[i], 1)
		}
		kStepsA = append(kStepsA, d*pStr[ax.InputSpatial[i]])
	}
	pl.n = kerDims[ax.KernelOutputChannels]
	pl.a = newMatrix(nil, offsetTable(rowSizes, rowSteps), offsetTable(kSizes, kStepsA))
	pl.b = newMatrix(nil, offsetTable(kSizes, kStepsB), offsetTable([]int{pl.n}, []int{kStr[ax.KernelOutputChannels]}))
	pl.m, pl.k = len(pl.a.rowOff), len(pl.a.colOff)
	if outDims[rank-1] != pl.n || pl.m*pl.n != product(outDims) || inDims[ax.InputChannels] != kerDims[ax.KernelInputChannels] {
		return nil, fmt.Errorf("shapes do not agree")
	}
	pl.split = newBorderSplit(pl, inDims, kerDims, outDims, p)
	return pl, nil
}

// run computes the convolution of in by ker into out.
func (pl *convPlan) run(in, ker, out []float32, workers int) {
	if pl.split != nil && !padEverything {
		pl.split.run(pl, in, ker, out, workers)
		return
	}
	src := in
	if !pl.direct {
		buf := getPanel(product(pl.padDims))
		defer panelPool.Put(buf)
		src = *buf
		pl.spread(src, in)
	}
	a, b := pl.a, pl.b
	a.data, b.data = src, ker
	gemm(pl.m, pl.n, pl.k, a, b, out, workers)
}

// spread fills the padded buffer: input element x goes to lo + x*dil on every axis, zeros
// everywhere else. The trailing axes that are neither padded nor dilated (the batch and the
// channels in the U-Net's [H, W, B, C] layout) form contiguous blocks, copied whole. Without
// dilation the padded buffer is written block by block, each block a copy or zeros, so that
// nothing is written twice; with it, the buffer is cleared first and the blocks copied into it.
func (pl *convPlan) spread(dst, src []float32) {
	rank := len(pl.inDims)
	inner := rank
	for inner > 0 && pl.lo[inner-1] == 0 && pl.dil[inner-1] == 1 && pl.padDims[inner-1] == pl.inDims[inner-1] {
		inner--
	}
	block := product(pl.inDims[inner:])
	dStr, sStr := rowMajorStrides(pl.padDims), rowMajorStrides(pl.inDims)
	dilated := false
	for _, d := range pl.dil[:inner] {
		dilated = dilated || d != 1
	}
	if !dilated {
		// Walk the padded outer index; a block lies in the input when every outer index
		// does.
		inRowChunks(len(dst)/block, block, func(lo, hi int) {
			idx := unravel(lo, pl.padDims[:inner])
			for off := lo * block; off < hi*block; off += block {
				s, inside := 0, true
				for a, i := range idx {
					x := i - pl.lo[a]
					if x < 0 || x >= pl.inDims[a] {
						inside = false
						break
					}
					s += x * sStr[a]
				}
				if inside {
					copy(dst[off:off+block], src[s:s+block])
				} else {
					clear(dst[off : off+block])
				}
				next(idx, pl.padDims)
			}
		})
		return
	}
	inChunks(len(dst), func(lo, hi int) { clear(dst[lo:hi]) })
	inRowChunks(len(src)/block, block, func(lo, hi int) {
		idx := unravel(lo, pl.inDims[:inner])
		for s := lo * block; s < hi*block; s += block {
			off := 0
			for a, i := range idx {
				off += (pl.lo[a] + i*pl.dil[a]) * dStr[a]
			}
			copy(dst[off:off+block], src[s:s+block])
			next(idx, pl.inDims)
		}
	})
}

// unravel returns the index, in an array of dimensions dims, of the flat position pos.
func unravel(pos int, dims []int) []int {
	idx := make([]int, len(dims))
	for a := len(dims) - 1; a >= 0; a-- {
		idx[a] = pos % dims[a]
		pos /= dims[a]
	}
	return idx
}

// next advances idx, the last axis fastest, within dims (idx may be shorter than dims: its
// axes are the first ones).
func next(idx, dims []int) {
	for a := len(idx) - 1; a >= 0; a-- {
		if idx[a]++; idx[a] < dims[a] {
			return
		}
		idx[a] = 0
	}
}

// offsetTable lists sum_i x_i*steps[i] over all x with 0 <= x_i < sizes[i], the last index
// varying fastest.
func offsetTable(sizes, steps []int) []int {
	out := []int{0}
	for i, n := range sizes {
		next := make([]int, 0, len(out)*n)
		for _, o := range out {
			for x := range n {
				next = append(next, o+x*steps[i])
			}
		}
		out = next
	}
	return out
}

func rowMajorStrides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for a := len(dims) - 1; a >= 0; a-- {
		s[a] = acc
		acc *= dims[a]
	}
	return s
}

func product(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// cachedConvPlan returns the plan of a shape and parameters, made once.
func cachedConvPlan(inDims, kerDims, outDims []int, p *convLayout) (*convPlan, error) {
	key := fmt.Sprint(inDims, kerDims, outDims, p.axes, p.strides, p.paddings, p.inputDilations, p.kernelDilations,
		p.channelGroupCount, p.batchGroupCount)
	if v, ok := convPlans.Load(key); ok {
		return v.(*convPlan), nil
	}
	pl, err := newConvPlan(append([]int(nil), inDims...), kerDims, outDims, p)
	if err != nil {
		return nil, err
	}
	if convEntries.Load() < maxOffsetEntries {
		if _, loaded := convPlans.LoadOrStore(key, pl); !loaded {
			convEntries.Add(1)
		}
	}
	return pl, nil
}

// execConvGeneral replaces simplego's ConvGeneral executor for float32 convolutions without
// groups; others go to simplego's.
func execConvGeneral(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockConv(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	in, ker := (*bufferLayout)(unsafe.Pointer(inputs[0])), (*bufferLayout)(unsafe.Pointer(inputs[1]))
	params, ok := nodeParams[convLayout](n.data, &convDataType)
	if !ok || in.shape.DType != dtypes.Float32 || ker.shape.DType != dtypes.Float32 || n.shape.DType != dtypes.Float32 {
		noteFallback("conv: dtype or unverified node data")
		return stockConv(backend, node, inputs, inputsOwned)
	}
	plan, err := cachedConvPlan(in.shape.Dimensions, ker.shape.Dimensions, n.shape.Dimensions, params)
	if err != nil {
		noteFallback("conv: " + err.Error())
		return stockConv(backend, node, inputs, inputsOwned)
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockConv(backend, node, inputs, inputsOwned)
	}
	plan.run(in.flat.([]float32), ker.flat.([]float32), (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32), defaultWorkers())
	if corruptForTest.Load() {
		c := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
		c[len(c)/2] = c[len(c)/2]*1.001 + 1e-3
	}
	convCalls.Add(1)
	return out, nil
}
