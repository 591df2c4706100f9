package gokernels

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Pooling (the FID Inception's max and average pooling) and the element-wise Max of its
// ReLUs. simplego's ReduceWindow walks every output element through an index iterator and
// visits its window one element at a time (with an allocation per window), which made the
// pooling most of the Inception's forward time. The fast path covers float32 max and sum
// windows over any axes but the last, which they leave alone (window 1, stride 1, no
// padding: the channels of a channels-last image), without dilations: each output position
// combines whole channel vectors. Every output value starts from simplego's initial value
// (the lowest float32 for max, 0 for sum) and takes the in-bounds window elements in
// simplego's order (row-major over the window) through the same operation (Go's max, float32
// +), so the results are simplego's bits. Max of a same-shape pair or with a scalar is Go's
// max element by element, as in simplego, in AVX (pool_amd64.s) with the instructions the Go
// compiler uses for max, so that even NaN payloads come out alike.

// reduceWindowLayout mirrors simplego's reduceWindowNode, the data of a ReduceWindow node.
type reduceWindowLayout struct {
	reductionType                                             backends.ReduceOpType
	windowDimensions, strides, baseDilations, windowDilations []int
	paddings                                                  [][2]int
}

var (
	stockReduceWindow, stockMax executor
	reduceWindowDataType        atomic.Pointer[reflect.Type]
	poolCalls                   atomic.Int64
)

// installPoolHooks puts the fast ReduceWindow and Max in simplego's table (once).
func installPoolHooks() {
	if stockReduceWindow == nil {
		stockReduceWindow = nodeExecutors[backends.OpTypeReduceWindow]
		stockMax = nodeExecutors[backends.OpTypeMax]
		nodeExecutors[backends.OpTypeReduceWindow] = execReduceWindow
		nodeExecutors[backends.OpTypeMax] = execMax
	}
}

// PoolCalls is how many ReduceWindows and Maxes ran on the fast path.
func PoolCalls() int64 { return poolCalls.Load() }

// windowPlan is one ReduceWindow on the fast path: per windowed axis, for each output index,
// the in-bounds input indices of its window in order; and the channel count (the last axis).
type windowPlan struct {
	inDims, outDims []int
	taps            [][][]int // taps[axis][outIndex] = input indices, ascending
	channels        int
}

// newWindowPlan returns the plan, or nil when the fast path does not cover the parameters.
func newWindowPlan(inDims, outDims []int, p *reduceWindowLayout) *windowPlan {
	rank := len(inDims)
	if rank < 2 || len(outDims) != rank || len(p.windowDimensions) != rank {
		return nil
	}
	for _, d := range [][]int{p.baseDilations, p.windowDilations} {
		for _, v := range d {
			if v != 1 {
				return nil
			}
		}
	}
	if p.strides != nil && len(p.strides) != rank || p.paddings != nil && len(p.paddings) != rank {
		return nil
	}
	stride := func(a int) int {
		if p.strides == nil {
			return p.windowDimensions[a] // simplego's default: windows side by side
		}
		return p.strides[a]
	}
	pad := func(a int) [2]int {
		if p.paddings == nil {
			return [2]int{}
		}
		return p.paddings[a]
	}
	last := rank - 1
	if p.windowDimensions[last] != 1 || stride(last) != 1 || pad(last) != [2]int{} || inDims[last] != outDims[last] {
		return nil
	}
	pl := &windowPlan{inDims: inDims, outDims: outDims, channels: inDims[last], taps: make([][][]int, last)}
	for a := range last {
		lo := pad(a)[0]
		if lo < 0 || pad(a)[1] < 0 || stride(a) < 1 {
			return nil
		}
		pl.taps[a] = make([][]int, outDims[a])
		for o := range outDims[a] {
			var in []int
			for w := range p.windowDimensions[a] {
				if i := o*stride(a) - lo + w; i >= 0 && i < inDims[a] {
					in = append(in, i)
				}
			}
			pl.taps[a][o] = in
		}
	}
	return pl
}

// run computes the max (or the sum) over the windows of in into out.
func (pl *windowPlan) run(in, out []float32, sum bool) {
	last := len(pl.inDims) - 1
	c := pl.channels
	inStr := rowMajorStrides(pl.inDims)
	lowest := dtypes.Float32.LowestValue().(float32)
	positions := len(out) / max(c, 1)
	inRowChunks(positions, c, func(lo, hi int) {
		idx := make([]int, last) // the output position, row-major over the axes but the last
		rem := lo
		for a := last - 1; a >= 0; a-- {
			idx[a] = rem % pl.outDims[a]
			rem /= pl.outDims[a]
		}
		var dst []float32
		// visit combines the window's input vectors into dst in row-major window order.
		var visit func(a, base int)
		visit = func(a, base int) {
			if a == last {
				if sum {
					addInto(dst, in[base:base+c])
				} else {
					maxInto(dst, in[base:base+c])
				}
				return
			}
			for _, t := range pl.taps[a][idx[a]] {
				visit(a+1, base+t*inStr[a])
			}
		}
		for pos := lo; pos < hi; pos++ {
			dst = out[pos*c : (pos+1)*c]
			if sum {
				clear(dst)
			} else {
				for i := range dst {
					dst[i] = lowest
				}
			}
			visit(0, 0)
			for a := last - 1; a >= 0; a-- {
				if idx[a]++; idx[a] < pl.outDims[a] {
					break
				}
				idx[a] = 0
			}
		}
	})
}

// addInto sets dst[i] += src[i].
func addInto(dst, src []float32) {
	n := len(dst)
	done := 0
	if vecSupported && kernelSupported {
		vaddAsm(dst, dst, src, n)
		done = n - n%8
	}
	for i := done; i < n; i++ {
		dst[i] += src[i]
	}
}

// maxInto sets dst[i] = max(dst[i], src[i]) with Go's max (NaN wins, +0 over -0), as
// simplego's update does.
func maxInto(dst, src []float32) { maxN(dst, dst, src) }

// maxN sets dst[i] = max(a[i], b[i]) with Go's max: the AVX loop, then the last values in Go.
func maxN(dst, a, b []float32) {
	n := len(dst)
	a, b = a[:n], b[:n]
	done := 0
	if vecSupported && kernelSupported {
		vmaxAsm(dst, a, b, n)
		done = n - n%8
	}
	for i := done; i < n; i++ {
		dst[i] = max(a[i], b[i])
	}
}

// maxScalarN sets dst[i] = max(a[i], s) with Go's max.
func maxScalarN(dst, a []float32, s float32) {
	n := len(dst)
	a = a[:n]
	done := 0
	if vecSupported && kernelSupported {
		vmaxScalarAsm(dst, a, s, n)
		done = n - n%8
	}
	for i := done; i < n; i++ {
		dst[i] = max(a[i], s)
	}
}

// execReduceWindow replaces simplego's ReduceWindow executor for the cases newWindowPlan
// covers.
func execReduceWindow(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockReduceWindow(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	in := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	p, ok := nodeParams[reduceWindowLayout](n.data, &reduceWindowDataType)
	if !ok || in.shape.DType != dtypes.Float32 || n.shape.DType != dtypes.Float32 ||
		p.reductionType != backends.ReduceOpMax && p.reductionType != backends.ReduceOpSum {
		return stockReduceWindow(backend, node, inputs, inputsOwned)
	}
	pl := newWindowPlan(in.shape.Dimensions, n.shape.Dimensions, p)
	if pl == nil {
		return stockReduceWindow(backend, node, inputs, inputsOwned)
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockReduceWindow(backend, node, inputs, inputsOwned)
	}
	pl.run(in.flat.([]float32), (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32), p.reductionType == backends.ReduceOpSum)
	poolCalls.Add(1)
	return out, nil
}

// execMax replaces simplego's Max executor for float32 operands of the same shape or with a
// scalar (a ReLU).
func execMax(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockMax(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	lhs, rhs := (*bufferLayout)(unsafe.Pointer(inputs[0])), (*bufferLayout)(unsafe.Pointer(inputs[1]))
	if n.shape.DType != dtypes.Float32 || lhs.shape.DType != dtypes.Float32 || rhs.shape.DType != dtypes.Float32 {
		return stockMax(backend, node, inputs, inputsOwned)
	}
	lFull, rFull := lhs.shape.Equal(n.shape), rhs.shape.Equal(n.shape)
	lScalar, rScalar := lhs.shape.Size() == 1, rhs.shape.Size() == 1
	if !(lFull && (rFull || rScalar) || rFull && lScalar) {
		return stockMax(backend, node, inputs, inputsOwned)
	}
	var out *simplego.Buffer
	switch {
	case inputsOwned[0] && lFull:
		out, inputs[0] = inputs[0], nil
	case inputsOwned[1] && rFull:
		out, inputs[1] = inputs[1], nil
	default:
		if out = getBufferForShape(backend, n.shape); out == nil {
			return stockMax(backend, node, inputs, inputsOwned)
		}
	}
	dst := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	a, b := lhs.flat.([]float32), rhs.flat.([]float32)
	switch {
	case lFull && rFull:
		inChunks(len(dst), func(lo, hi int) { maxN(dst[lo:hi], a[lo:hi], b[lo:hi]) })
	default:
		full, s := a, b[0]
		if rFull {
			full, s = b, a[0]
		}
		// simplego puts the scalar on the right: max(full, s).
		inChunks(len(dst), func(lo, hi int) { maxScalarN(dst[lo:hi], full[lo:hi], s) })
	}
	poolCalls.Add(1)
	return out, nil
}

// selfCheckPool runs a padded 3x3 max and sum pooling at stride 1, a 3x3 max pooling at
// stride 2 and a ReLU on the fast path and on simplego's, which must agree bit for bit.
func selfCheckPool(backend backends.Backend, rng *rand.Rand) error {
	exec, err := graph.NewExecAny(backend, func(x *graph.Node) []*graph.Node {
		same := [][2]int{{0, 0}, {1, 1}, {1, 1}, {0, 0}}
		return []*graph.Node{
			graph.BackendReduceWindow(x, backends.ReduceOpMax, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, nil, nil, same),
			graph.BackendReduceWindow(x, backends.ReduceOpSum, []int{1, 3, 3, 1}, []int{1, 1, 1, 1}, nil, nil, same),
			graph.BackendReduceWindow(x, backends.ReduceOpMax, []int{1, 3, 3, 1}, []int{1, 2, 2, 1}, nil, nil, nil),
			graph.MaxScalar(x, 0),
		}
	})
	if err != nil {
		return err
	}
	defer exec.Finalize()
	x := tensors.FromFlatDataAndDimensions(randomData(rng, []int{2, 7, 6, 5}), 2, 7, 6, 5)
	stock, err := execOn(false, exec, x)
	if err != nil {
		return err
	}
	before := PoolCalls()
	fast, err := execOn(true, exec, x)
	if err != nil {
		return err
	}
	if PoolCalls() != before+4 {
		return fmt.Errorf("a pooling or a ReLU did not reach the fast path")
	}
	for i := range stock {
		if !slices.Equal(stock[i], fast[i]) {
			return fmt.Errorf("pooling or ReLU %d differs from simplego's", i)
		}
	}
	return nil
}
