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

// Row gathers and their gradients. The U-Net's im2col convolution and its upsampling gather
// whole rows of a [rows, ...] tensor (graph.Gather with [N, 1] indices), and the gradient of
// that is a ScatterSum of rows into zeros. simplego runs both through a general iterator, one
// element at a time, which was 58% of a U-Net training step. Here both are copies (or sums)
// of contiguous rows. The results are the same bits as simplego's: a gather copies, and the
// scatter adds the updates of each target row in index order, as simplego does.

// gatherLayout mirrors simplego's gatherNode, the data of a Gather node.
type gatherLayout struct {
	indexVectorAxis                                                  int
	offsetOutputAxes, collapsedSlicesAxes, startIndexMap, sliceSizes []int
	indicesAreSorted                                                 bool
}

// scatterLayout mirrors simplego's scatterNode, the data of ScatterSum (and Max, Min) nodes.
type scatterLayout struct {
	indexVectorAxis                                                int
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int
	indicesAreSorted, uniqueIndices                                bool
}

var (
	stockGather, stockScatterSum executor

	gatherDataType, scatterDataType atomic.Pointer[reflect.Type]

	rowCalls atomic.Int64
)

// installRowHooks puts the row gather and scatter in simplego's table (once).
func installRowHooks() error {
	if stockGather == nil {
		stockGather = nodeExecutors[backends.OpTypeGather]
		stockScatterSum = nodeExecutors[backends.OpTypeScatterSum]
		nodeExecutors[backends.OpTypeGather] = execGather
		nodeExecutors[backends.OpTypeScatterSum] = execScatterSum
	}
	installMemHooks()
	return nil
}

// RowCalls is how many gathers and scatters of whole rows ran on the fast path.
func RowCalls() int64 { return rowCalls.Load() }

// nodeParams returns a node's data as *L, verifying the first time (per known type) that its
// dynamic type is a pointer to a struct laid out as L.
func nodeParams[L any](data any, known *atomic.Pointer[reflect.Type]) (*L, bool) {
	t := reflect.TypeOf(data)
	if k := known.Load(); k == nil || *k != t {
		if t == nil || t.Kind() != reflect.Pointer || checkLayout(t.Elem(), reflect.TypeFor[L]()) != nil {
			return nil, false
		}
		known.Store(&t)
	}
	return (*L)((*[2]unsafe.Pointer)(unsafe.Pointer(&data))[1]), true
}

// rowIndices returns the indices of a row gather or scatter: int32 [N, 1] with the index
// vector on axis 1.
func rowIndices(idx *bufferLayout, indexVectorAxis int) ([]int32, bool) {
	d := idx.shape.Dimensions
	if idx.shape.DType != dtypes.Int32 || len(d) != 2 || d[1] != 1 || indexVectorAxis != 1 {
		return nil, false
	}
	return idx.flat.([]int32), true
}

// axesFrom returns [from, from+1, ..., to-1].
func axesFrom(from, to int) []int {
	out := make([]int, 0, max(0, to-from))
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// execGather copies whole rows: out[i, ...] = operand[clamp(idx[i]), ...] for a float32
// operand of any rank gathered on axis 0; other gathers go to simplego's.
func execGather(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockGather(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	operand, indices := (*bufferLayout)(unsafe.Pointer(inputs[0])), (*bufferLayout)(unsafe.Pointer(inputs[1]))
	p, ok := nodeParams[gatherLayout](n.data, &gatherDataType)
	if !ok || operand.shape.DType != dtypes.Float32 || n.shape.DType != dtypes.Float32 {
		return stockGather(backend, node, inputs, inputsOwned)
	}
	dims := operand.shape.Dimensions
	idx, ok := rowIndices(indices, p.indexVectorAxis)
	if !ok || len(dims) < 1 || !slices.Equal(p.startIndexMap, []int{0}) || !slices.Equal(p.collapsedSlicesAxes, []int{0}) ||
		!slices.Equal(p.sliceSizes, append([]int{1}, dims[1:]...)) || !slices.Equal(p.offsetOutputAxes, axesFrom(1, len(dims))) ||
		!slices.Equal(n.shape.Dimensions, append([]int{len(idx)}, dims[1:]...)) {
		return stockGather(backend, node, inputs, inputsOwned)
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockGather(backend, node, inputs, inputsOwned)
	}
	src, dst := operand.flat.([]float32), (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	rows := dims[0]
	row := len(dst) / max(1, len(idx))
	vector := row > 0 && row%8 == 0 && vecSupported && kernelSupported && inRange(idx, rows)
	workers := rowWorkers(len(dst))
	run(workers, func(part int) {
		lo, hi := partRange(len(idx), workers, part)
		if vector {
			gatherRowsAsm(dst[lo*row:hi*row], src, idx[lo:hi], row)
			return
		}
		for i, r := range idx[lo:hi] {
			// Like XLA, a start index is clamped so that the slice lies inside the operand.
			k := min(max(int(r), 0), rows-1)
			copy(dst[(lo+i)*row:(lo+i+1)*row], src[k*row:(k+1)*row])
		}
	})
	rowCalls.Add(1)
	return out, nil
}

// execScatterSum adds whole rows: out = operand, then out[idx[i], ...] += updates[i, ...] in
// order of i, skipping out-of-range indices as XLA does; other scatters go to simplego's.
func execScatterSum(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockScatterSum(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	operand := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	indices, updates := (*bufferLayout)(unsafe.Pointer(inputs[1])), (*bufferLayout)(unsafe.Pointer(inputs[2]))
	p, ok := nodeParams[scatterLayout](n.data, &scatterDataType)
	if !ok || operand.shape.DType != dtypes.Float32 || updates.shape.DType != dtypes.Float32 {
		return stockScatterSum(backend, node, inputs, inputsOwned)
	}
	dims := operand.shape.Dimensions
	idx, ok := rowIndices(indices, p.indexVectorAxis)
	if !ok || len(dims) < 1 || !slices.Equal(p.insertedWindowAxes, []int{0}) || !slices.Equal(p.scatterAxesToOperandAxes, []int{0}) ||
		!slices.Equal(p.updateWindowAxes, axesFrom(1, len(dims))) ||
		!slices.Equal(updates.shape.Dimensions, append([]int{len(idx)}, dims[1:]...)) {
		return stockScatterSum(backend, node, inputs, inputsOwned)
	}
	var out *simplego.Buffer
	if inputsOwned[0] {
		out, inputs[0] = inputs[0], nil // simplego's convention: the operand is consumed
	} else {
		if out = getBufferForShape(backend, operand.shape); out == nil {
			return stockScatterSum(backend, node, inputs, inputsOwned)
		}
		copy((*bufferLayout)(unsafe.Pointer(out)).flat.([]float32), operand.flat.([]float32))
	}
	dst, upd := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32), updates.flat.([]float32)
	rows := dims[0]
	row := len(upd) / max(1, len(idx))
	// Each worker owns a range of target rows and goes through all the updates in order, so
	// every row still receives its updates in index order whatever the number of workers.
	workers := rowWorkers(len(upd))
	run(workers, func(part int) {
		lo, hi := partRange(rows, workers, part)
		if row > 0 && row%8 == 0 && vecSupported && kernelSupported {
			scatterAddRowsAsm(dst, upd, idx, row, lo, hi)
			return
		}
		for i, r := range idx {
			if int(r) < lo || int(r) >= hi {
				continue // out of this worker's range, or of the operand (XLA skips those)
			}
			d, u := dst[int(r)*row:(int(r)+1)*row], upd[i*row:(i+1)*row]
			for j := range d {
				d[j] += u[j]
			}
		}
	})
	rowCalls.Add(1)
	return out, nil
}

// rowWorkers is how many goroutines copy or add n floats: one below about 64 K floats, where
// handing off costs more than it saves.
func rowWorkers(n int) int { return max(1, min(defaultWorkers(), n>>16)) }

// inRange reports whether every index lies in [0, rows).
func inRange(idx []int32, rows int) bool {
	for _, r := range idx {
		if r < 0 || int(r) >= rows {
			return false
		}
	}
	return true
}
