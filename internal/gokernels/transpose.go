package gokernels

import (
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// A Transpose (the attention's heads moved next to the batch and back, a kernel's axes
// swapped for its gradient) runs in simplego through an index iterator, one element at a
// time, on one core. The fast path below walks the output in order with the operand's
// strides: runs that stay contiguous in the operand (the channels, when the last axis stays
// last) are copies, other runs a strided loop, and the output's rows are shared between
// workers. It only moves values, so its results are simplego's bit for bit.

var (
	stockTranspose executor
	transposeCalls atomic.Int64
)

func installTransposeHook() {
	if stockTranspose == nil {
		stockTranspose = nodeExecutors[backends.OpTypeTranspose]
		nodeExecutors[backends.OpTypeTranspose] = execTranspose
	}
}

func execTranspose(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n, operand, perm, ok := axesOp(node, inputs)
	if !ok || len(perm) != operand.shape.Rank() {
		return stockTranspose(backend, node, inputs, inputsOwned)
	}
	for _, ax := range perm {
		if ax < 0 || ax >= len(perm) {
			return stockTranspose(backend, node, inputs, inputsOwned)
		}
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockTranspose(backend, node, inputs, inputsOwned)
	}
	transposeFloat32((*bufferLayout)(unsafe.Pointer(out)).flat.([]float32), operand.flat.([]float32), operand.shape.Dimensions, perm)
	transposeCalls.Add(1)
	memCalls.Add(1)
	return out, nil
}

// transposeFloat32 sets dst (row-major) to src (row-major, dimensions dims) with its axes
// in the order perm: output axis i is operand axis perm[i].
func transposeFloat32(dst, src []float32, dims, perm []int) {
	if len(dst) == 0 {
		return
	}
	// The output's axes with the operand's stride along each: axes of one value dropped, and
	// an axis merged into the one before it where the two are also adjacent in the operand.
	srcStrides := rowMajorStrides(dims)
	var size, stride []int
	for _, ax := range perm {
		d, s := dims[ax], srcStrides[ax]
		if d == 1 {
			continue
		}
		if last := len(size) - 1; last >= 0 && stride[last] == s*d {
			size[last] *= d
			stride[last] = s
			continue
		}
		size, stride = append(size, d), append(stride, s)
	}
	if len(size) == 0 {
		dst[0] = src[0]
		return
	}
	inner := len(size) - 1
	width, step := size[inner], stride[inner]
	rows := len(dst) / width
	inRowChunks(rows, width, func(lo, hi int) {
		// The operand offset of row lo, then an odometer over the outer axes.
		idx := make([]int, inner)
		off, rem := 0, lo
		for ax := inner - 1; ax >= 0; ax-- {
			idx[ax] = rem % size[ax]
			rem /= size[ax]
			off += idx[ax] * stride[ax]
		}
		for r := lo; r < hi; r++ {
			d := dst[r*width : (r+1)*width]
			if step == 1 {
				copy(d, src[off:off+width])
			} else {
				for c := range d {
					d[c] = src[off+c*step]
				}
			}
			for ax := inner - 1; ax >= 0; ax-- {
				idx[ax]++
				off += stride[ax]
				if idx[ax] < size[ax] {
					break
				}
				off -= stride[ax] * size[ax]
				idx[ax] = 0
			}
		}
	})
}

// TransposeCalls is how many Transposes ran on the fast path.
func TransposeCalls() int64 { return transposeCalls.Load() }
