package gokernels

import (
	"reflect"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Memory-bound ops that simplego runs one element at a time through index iterators: a Slice
// (each concatenation's gradient) and a ReduceSum over leading or trailing axes (each bias's
// gradient, per-example means).
// The fast paths below compute the same values in the same order (sums accumulate in
// simplego's flat order), so their results are bit for bit simplego's; any other case goes
// to simplego's executor.

// sliceLayout mirrors simplego's sliceNode, the data of a Slice node.
type sliceLayout struct {
	starts, limits, strides []int
}

var (
	stockSlice, stockReduceSum executor

	sliceDataType atomic.Pointer[reflect.Type]

	memCalls atomic.Int64
)

// installMemHooks puts the fast Slice and ReduceSum, and the element-wise ops of binary.go,
// in simplego's table (once).
func installMemHooks() {
	if stockSlice == nil {
		stockSlice = nodeExecutors[backends.OpTypeSlice]
		stockReduceSum = nodeExecutors[backends.OpTypeReduceSum]
		nodeExecutors[backends.OpTypeSlice] = execSliceBlocks
		nodeExecutors[backends.OpTypeReduceSum] = execReduceSumOuter
	}
	installBinaryHooks()
	installLogisticHook()
	installConvHook()
	installBroadcastHook()
	installTransposeHook()
	installConcatenateHook()
	installPoolHooks()
	installRNGHook()
	installUnaryHooks()
}

// axesOp reads a node whose data is a list of axes (a ReduceSum's axes, a BroadcastInDim's,
// a Transpose's permutation) and whose one operand and output are float32; ok is false
// when the fast paths are off or the node is anything else, for simplego's executor.
func axesOp(node *simplego.Node, inputs []*simplego.Buffer) (n *nodeLayout, operand *bufferLayout, axes []int, ok bool) {
	if !active.Load() {
		return nil, nil, nil, false
	}
	n = (*nodeLayout)(unsafe.Pointer(node))
	operand = (*bufferLayout)(unsafe.Pointer(inputs[0]))
	axes, ok = n.data.([]int)
	return n, operand, axes, ok && operand.shape.DType == dtypes.Float32 && n.shape.DType == dtypes.Float32
}

// MemCalls is how many element-wise ops, Slices and ReduceSums ran on the fast paths.
func MemCalls() int64 { return memCalls.Load() }

// trailingBroadcast reports whether small broadcasts onto big along leading axes only: small's
// dimensions are 1 up to some axis and equal to big's after it, so that small[i % len(small)]
// pairs with big[i].
func trailingBroadcast(small, big []int) bool {
	if len(small) != len(big) {
		return false
	}
	i := 0
	for i < len(small) && small[i] == 1 && big[i] != 1 {
		i++
	}
	for ; i < len(small); i++ {
		if small[i] != big[i] {
			return false
		}
	}
	return true
}

// leadingBroadcast reports whether small broadcasts onto big along trailing axes only: small's
// dimensions equal big's up to some axis and are 1 after it, so that each value of small
// pairs with one contiguous run of big.
func leadingBroadcast(small, big []int) bool {
	if len(small) != len(big) {
		return false
	}
	i := len(small)
	for i > 0 && small[i-1] == 1 && big[i-1] != 1 {
		i--
	}
	for ; i > 0; i-- {
		if small[i-1] != big[i-1] {
			return false
		}
	}
	return true
}

// execSliceBlocks copies a unit-stride float32 slice block by block; strided slices go to
// simplego's.
func execSliceBlocks(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockSlice(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	operand := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	p, ok := nodeParams[sliceLayout](n.data, &sliceDataType)
	if !ok || operand.shape.DType != dtypes.Float32 {
		return stockSlice(backend, node, inputs, inputsOwned)
	}
	dims := operand.shape.Dimensions
	if len(p.starts) != len(dims) || len(p.limits) != len(dims) {
		return stockSlice(backend, node, inputs, inputsOwned)
	}
	for _, s := range p.strides {
		if s != 1 {
			return stockSlice(backend, node, inputs, inputsOwned)
		}
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockSlice(backend, node, inputs, inputsOwned)
	}
	copySlice(operand.flat.([]float32), (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32), dims, p.starts, p.limits)
	memCalls.Add(1)
	return out, nil
}

// copySlice copies src[starts:limits] (row-major, dims) into dst: the trailing axes that are
// taken whole, with the innermost one that is not, form contiguous blocks, shared out between
// the workers.
func copySlice(src, dst []float32, dims, starts, limits []int) {
	rank := len(dims)
	// inner: the axes from which on the source block is contiguous.
	inner := rank
	block := 1
	for inner > 0 {
		ax := inner - 1
		block *= limits[ax] - starts[ax]
		inner--
		if starts[ax] != 0 || limits[ax] != dims[ax] {
			break
		}
	}
	if block == 0 {
		return
	}
	strides := rowMajorStrides(dims)
	base := 0
	for ax := range rank {
		base += starts[ax] * strides[ax]
	}
	outer := make([]int, inner) // the sizes of the outer axes in dst
	for ax := range outer {
		outer[ax] = limits[ax] - starts[ax]
	}
	inRowChunks(len(dst)/block, block, func(lo, hi int) {
		idx := unravel(lo, outer)
		for o := lo * block; o < hi*block; o += block {
			off := base
			for ax, i := range idx {
				off += i * strides[ax]
			}
			copy(dst[o:o+block], src[off:off+block])
			next(idx, outer)
		}
	})
}

// addRows adds the rows of x (each len(dst) values) into dst one after another, so each
// element's sum runs in row order. Strips of 32 and then 8 columns keep their sums in
// registers over all the rows; the last columns, and CPUs without the AVX loops, add in Go.
func addRows(dst, x []float32) {
	w := len(dst)
	rows := len(x) / max(1, w)
	j := 0
	if vecSupported && kernelSupported && rows > 0 {
		for ; j+32 <= w; j += 32 {
			vaccRows32Asm(dst[j:j+32], x[j:], w, rows)
		}
		for ; j+8 <= w; j += 8 {
			vaccRows8Asm(dst[j:j+8], x[j:], w, rows)
		}
	}
	if j < w {
		for i := 0; i < len(x); i += w {
			for c := j; c < w; c++ {
				dst[c] += x[i+c]
			}
		}
	}
}

// execReduceSumOuter sums a float32 tensor over its leading axes or over its trailing axes,
// in simplego's order (flat order into zeroed accumulators); other reductions go to
// simplego's.
func execReduceSumOuter(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n, operand, axes, ok := axesOp(node, inputs)
	if !ok || len(axes) == 0 {
		return stockReduceSum(backend, node, inputs, inputsOwned)
	}
	dims := operand.shape.Dimensions
	// Summing over an axis of one value adds nothing and changes no order: GroupNorm's
	// groups of one channel then sum over leading axes only.
	axes = slices.DeleteFunc(slices.Clone(axes), func(ax int) bool { return ax >= 0 && ax < len(dims) && dims[ax] == 1 })
	if len(axes) == 0 {
		return stockReduceSum(backend, node, inputs, inputsOwned)
	}
	leading, trailing := true, true
	for i, ax := range axes {
		leading = leading && ax == i
		trailing = trailing && ax == len(dims)-len(axes)+i
	}
	var w walk
	if !leading && !trailing {
		// Other axes: a walk over the operand in flat order, the output at strides that are
		// 0 along the reduced axes.
		kept := slices.Clone(dims)
		for _, ax := range axes {
			if ax < 0 || ax >= len(dims) {
				return stockReduceSum(backend, node, inputs, inputsOwned)
			}
			kept[ax] = 1
		}
		if w, ok = newWalk(dims, kept); !ok {
			return stockReduceSum(backend, node, inputs, inputsOwned)
		}
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockReduceSum(backend, node, inputs, inputsOwned)
	}
	x, dst := operand.flat.([]float32), (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	clear(dst)
	switch {
	case !leading && !trailing:
		reduceSumStrided(&w, dst, x)
	case len(dst) == 1: // everything into one sum, in flat order
		var sum float32
		for _, v := range x {
			sum += v
		}
		dst[0] = sum
	case leading:
		addRows(dst, x)
	default:
		w := len(x) / max(1, len(dst))
		for o := range dst {
			var s float32
			for _, v := range x[o*w : (o+1)*w] {
				s += v
			}
			dst[o] = s
		}
	}
	memCalls.Add(1)
	return out, nil
}
