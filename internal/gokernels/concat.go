package gokernels

import (
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// A Concatenate (the U-Nets' skip connections, joined along the channels) runs in simplego as
// a copy per input per row of the axes before the joined one, on one core. The fast path
// below copies the same rows, each output row's pieces in input order, with the rows shared
// between workers. It only moves values, so its results are simplego's bit for bit.

var (
	stockConcatenate executor
	concatCalls      atomic.Int64
)

func installConcatenateHook() {
	if stockConcatenate == nil {
		stockConcatenate = nodeExecutors[backends.OpTypeConcatenate]
		nodeExecutors[backends.OpTypeConcatenate] = execConcatenate
	}
}

func execConcatenate(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockConcatenate(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	axis, ok := n.data.(int)
	dims := n.shape.Dimensions
	if !ok || axis < 0 || axis >= len(dims) || n.shape.DType != dtypes.Float32 {
		return stockConcatenate(backend, node, inputs, inputsOwned)
	}
	// Each input's piece of an output row: its values from the joined axis inwards.
	rows := product(dims[:axis])
	srcs := make([][]float32, len(inputs))
	widths := make([]int, len(inputs))
	for i, in := range inputs {
		b := (*bufferLayout)(unsafe.Pointer(in))
		if b.shape.DType != dtypes.Float32 {
			return stockConcatenate(backend, node, inputs, inputsOwned)
		}
		srcs[i] = b.flat.([]float32)
		if rows > 0 {
			widths[i] = len(srcs[i]) / rows
		}
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockConcatenate(backend, node, inputs, inputsOwned)
	}
	dst := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	if rows > 0 {
		width := len(dst) / rows
		inRowChunks(rows, width, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				off := r * width
				for i, src := range srcs {
					w := widths[i]
					copy(dst[off:off+w], src[r*w:(r+1)*w])
					off += w
				}
			}
		})
	}
	concatCalls.Add(1)
	memCalls.Add(1)
	return out, nil
}

// ConcatenateCalls is how many Concatenates ran on the fast path.
func ConcatenateCalls() int64 { return concatCalls.Load() }
