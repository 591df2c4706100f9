package gokernels

import (
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// A BroadcastInDim (a bias added to every row, a per-example scale spread over its values)
// runs in simplego through an index iterator, one element at a time. The fast path below
// copies the same values in runs: a run is either a contiguous block of the operand (the
// output's trailing axes that are not broadcast) or one operand value repeated (trailing axes
// that are), with the runs of the next axis out in a plain loop (strided.go). It only moves
// values, so its results are simplego's bit for bit.

var (
	stockBroadcastInDim executor
	broadcastCalls      atomic.Int64
)

func installBroadcastHook() {
	if stockBroadcastInDim == nil {
		stockBroadcastInDim = nodeExecutors[backends.OpTypeBroadcastInDim]
		nodeExecutors[backends.OpTypeBroadcastInDim] = execBroadcastInDim
	}
}

func execBroadcastInDim(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n, operand, axes, ok := axesOp(node, inputs)
	if !ok || len(axes) != operand.shape.Rank() {
		return stockBroadcastInDim(backend, node, inputs, inputsOwned)
	}
	outDims := n.shape.Dimensions
	// The operand's dimensions placed on the output's axes (1 on the others): the same flat data.
	opDims := make([]int, len(outDims))
	for i := range opDims {
		opDims[i] = 1
	}
	for opAxis, outAxis := range axes {
		if outAxis < 0 || outAxis >= len(outDims) {
			return stockBroadcastInDim(backend, node, inputs, inputsOwned)
		}
		opDims[outAxis] = operand.shape.Dimensions[opAxis]
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockBroadcastInDim(backend, node, inputs, inputsOwned)
	}
	src, dst := operand.flat.([]float32), (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	broadcastRuns(src, opDims, dst, outDims)
	broadcastCalls.Add(1)
	memCalls.Add(1)
	return out, nil
}

// broadcastRuns fills dst (row-major, dimensions outDims) with src broadcast from opDims (of
// the same rank, each 1 or equal to outDims): a walk over dst whose two innermost merged axes
// are copies of contiguous runs or fills with one value.
func broadcastRuns(src []float32, opDims []int, dst []float32, outDims []int) {
	if len(src) == 1 || len(outDims) == 0 {
		v := src[0]
		for i := range dst {
			dst[i] = v
		}
		return
	}
	if len(dst) == 0 {
		return
	}
	w, ok := newWalk(outDims, opDims)
	if !ok {
		panic("gokernels: broadcast dimensions do not match")
	}
	broadcastStrided(&w, dst, src)
}

// BroadcastCalls is how many BroadcastInDims ran on the fast path.
func BroadcastCalls() int64 { return broadcastCalls.Load() }
