package gokernels

import (
	"fmt"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// executor has the signature of simplego's unexported nodeExecutor type.
type executor func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error)

// nodeExecutors is simplego's table of op implementations, indexed by op type; simplego
// reads it each time it executes a node, so replacing an entry takes effect at once.
//
//go:linkname nodeExecutors github.com/gomlx/gomlx/backends/simplego.nodeExecutors
var nodeExecutors [backends.OpTypeLast]executor

// getBufferForShape takes an output buffer from the backend's pool (simplego returns it to
// the pool itself once the value is no longer needed).
//
//go:linkname getBufferForShape github.com/gomlx/gomlx/backends/simplego.(*Backend).getBufferForShape
func getBufferForShape(b *simplego.Backend, shape shapes.Shape) *simplego.Buffer

// The three layouts below mirror unexported simplego types of GoMLX v0.26.0 field for field;
// checkLayout compares them with the real types (names, types and offsets) before the hook
// is used, and TestPinnedToGoMLX fails when GoMLX changes them.

// bufferLayout mirrors simplego.Buffer.
type bufferLayout struct {
	shape shapes.Shape
	valid bool
	flat  any
}

// nodeLayout mirrors simplego.Node.
type nodeLayout struct {
	builderIdx         int
	inputs             []*simplego.Node
	opType             backends.OpType
	shape              shapes.Shape
	builder            *simplego.Builder
	multiOutputsShapes []shapes.Shape
	multiOutputsNodes  []*simplego.Node
	isNodeSelectOutput bool
	selectOutputIdx    int
	data               any
}

// dotGeneralLayout mirrors simplego's dotGeneralNodeData, the data of a DotGeneral node.
type dotGeneralLayout struct {
	lhsContractingAxes, lhsBatchAxes                       []int
	rhsContractingAxes, rhsBatchAxes                       []int
	batchSize, lhsCrossSize, rhsCrossSize, contractingSize int
	lhsBlockedShape, rhsBlockedShape, outputBlockedShape   shapes.Shape
}

// checkLayout returns an error naming the first difference between the real struct type and
// its mirror.
func checkLayout(real, mirror reflect.Type) error {
	if real.Kind() != reflect.Struct {
		return fmt.Errorf("%s is a %s, not a struct", real, real.Kind())
	}
	if real.NumField() != mirror.NumField() || real.Size() != mirror.Size() {
		return fmt.Errorf("%s has %d fields (%d bytes); gokernels expects %d (%d bytes)",
			real, real.NumField(), real.Size(), mirror.NumField(), mirror.Size())
	}
	for i := 0; i < real.NumField(); i++ {
		r, m := real.Field(i), mirror.Field(i)
		if r.Name != m.Name || r.Type != m.Type || r.Offset != m.Offset {
			return fmt.Errorf("%s field %d is %s %s at offset %d; gokernels expects %s %s at offset %d",
				real, i, r.Name, r.Type, r.Offset, m.Name, m.Type, m.Offset)
		}
	}
	return nil
}

var (
	stockExec executor // simplego's own DotGeneral executor, saved when the hook goes in

	// active is true while DotGeneral runs on the fast kernel; false sends every call to
	// stockExec, which is how the self-check runs the stock kernel for comparison.
	active atomic.Bool

	// dotDataType is the verified dynamic type of a DotGeneral node's data.
	dotDataType atomic.Pointer[reflect.Type]

	fastCalls, fallbackCalls atomic.Int64

	// corruptForTest makes the fast kernel wrong on purpose (see SetCorruptForTest).
	corruptForTest atomic.Bool
)

// installHook checks the mirrored layouts and puts execDotGeneral in simplego's table.
func installHook() error {
	if err := checkLayout(reflect.TypeFor[simplego.Node](), reflect.TypeFor[nodeLayout]()); err != nil {
		return err
	}
	if err := checkLayout(reflect.TypeFor[simplego.Buffer](), reflect.TypeFor[bufferLayout]()); err != nil {
		return err
	}
	if stockExec == nil {
		stockExec = nodeExecutors[backends.OpTypeDotGeneral]
		if stockExec == nil {
			return fmt.Errorf("simplego has no DotGeneral executor")
		}
		nodeExecutors[backends.OpTypeDotGeneral] = execDotGeneral
	}
	return installRowHooks()
}

// operandOffsets returns, for one DotGeneral operand, the flat offsets of its batch index
// (batch axes in the given order), its free index (the remaining axes in order) and its
// contracted index (contracting axes in the given order); the element at (batch b, free i,
// contracted p) is at batch[b] + free[i] + contract[p]. This matches simplego's normalized
// [batch, free, contracted] layout, so the output needs no reordering.
func operandOffsets(dims, batchAxes, contractingAxes []int) (batch, free, contract []int) {
	strides := make([]int, len(dims))
	s := 1
	for ax := len(dims) - 1; ax >= 0; ax-- {
		strides[ax] = s
		s *= dims[ax]
	}
	used := make([]bool, len(dims))
	for _, ax := range batchAxes {
		used[ax] = true
	}
	for _, ax := range contractingAxes {
		used[ax] = true
	}
	var freeAxes []int
	for ax := range dims {
		if !used[ax] {
			freeAxes = append(freeAxes, ax)
		}
	}
	return cachedOffsets(dims, strides, batchAxes), cachedOffsets(dims, strides, freeAxes), cachedOffsets(dims, strides, contractingAxes)
}

// offsetCache keeps offset tables by dimensions and axes: a training step asks for the same
// few dozen tables at every step, some of them tens of thousands long. The tables are never
// modified after they are made.
var (
	offsetCache   sync.Map // string -> []int
	offsetEntries atomic.Int64
)

// maxOffsetEntries bounds the cache for processes that see many shapes (long sweeps).
const maxOffsetEntries = 4096

func cachedOffsets(dims, strides, axes []int) []int {
	key := fmt.Sprint(dims, axes)
	if v, ok := offsetCache.Load(key); ok {
		return v.([]int)
	}
	off := axesOffsets(dims, strides, axes)
	if offsetEntries.Load() < maxOffsetEntries {
		if _, loaded := offsetCache.LoadOrStore(key, off); !loaded {
			offsetEntries.Add(1)
		}
	}
	return off
}

// axesOffsets lists the offsets of every index of the given axes, the first axis outermost.
func axesOffsets(dims, strides, axes []int) []int {
	size := 1
	for _, ax := range axes {
		size *= dims[ax]
	}
	out := make([]int, 1, size)
	for _, ax := range axes {
		n := len(out)
		for x := 1; x < dims[ax]; x++ {
			for _, o := range out[:n] {
				out = append(out, o+x*strides[ax])
			}
		}
		// Reorder so that the new axis varies fastest: out[i*dims[ax]+x].
		reordered := make([]int, 0, len(out))
		for i := 0; i < n; i++ {
			for x := 0; x < dims[ax]; x++ {
				reordered = append(reordered, out[x*n+i])
			}
		}
		out = reordered
	}
	return out
}

var (
	fallbackMu    sync.Mutex
	fallbackKinds = map[string]int{}
)

// noteFallback counts a call that went to the stock kernel, by what made it.
func noteFallback(why string) {
	fallbackCalls.Add(1)
	fallbackMu.Lock()
	defer fallbackMu.Unlock()
	if len(fallbackKinds) < 64 {
		fallbackKinds[why]++
	}
}

// Fallbacks describes the DotGenerals that went to the stock kernel while the fast one was
// active (operand dimensions and axes, or dtype), with how often each was seen.
func Fallbacks() map[string]int {
	fallbackMu.Lock()
	defer fallbackMu.Unlock()
	return maps.Clone(fallbackKinds)
}

// execDotGeneral replaces simplego's DotGeneral executor: float32 products run on the packed
// AVX2/FMA kernel, other dtypes on the stock one.
func execDotGeneral(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockExec(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	lhs := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	rhs := (*bufferLayout)(unsafe.Pointer(inputs[1]))
	params, ok := nodeParams[dotGeneralLayout](n.data, &dotDataType)
	if !ok || lhs.shape.DType != dtypes.Float32 || rhs.shape.DType != dtypes.Float32 || n.shape.DType != dtypes.Float32 {
		if ok {
			noteFallback(fmt.Sprintf("dtype %s x %s", lhs.shape.DType, rhs.shape.DType))
		} else {
			noteFallback("unverified node data")
		}
		return stockExec(backend, node, inputs, inputsOwned)
	}
	lBatch, lFree, lContract := operandOffsets(lhs.shape.Dimensions, params.lhsBatchAxes, params.lhsContractingAxes)
	rBatch, rFree, rContract := operandOffsets(rhs.shape.Dimensions, params.rhsBatchAxes, params.rhsContractingAxes)
	m, nn, k := len(lFree), len(rFree), len(lContract)
	if len(lBatch) != len(rBatch) || k != len(rContract) || n.shape.Size() != len(lBatch)*m*nn {
		noteFallback(fmt.Sprintf("%v x %v contracting %v, %v batch %v, %v", lhs.shape.Dimensions, rhs.shape.Dimensions,
			params.lhsContractingAxes, params.rhsContractingAxes, params.lhsBatchAxes, params.rhsBatchAxes))
		return stockExec(backend, node, inputs, inputsOwned)
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil { // the backend is finalized; let simplego say so
		return stockExec(backend, node, inputs, inputsOwned)
	}
	a, b := lhs.flat.([]float32), rhs.flat.([]float32)
	c := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	workers := defaultWorkers()
	// The offset tables are the same for every batch element: they are looked at once, and
	// each element only moves the views' start.
	am, bm := newMatrix(nil, lFree, lContract), newMatrix(nil, rContract, rFree)
	for bi := range lBatch {
		am.data, bm.data = a[lBatch[bi]:], b[rBatch[bi]:]
		gemm(m, nn, k, am, bm, c[bi*m*nn:(bi+1)*m*nn], workers)
	}
	if corruptForTest.Load() {
		c[len(c)/2] = c[len(c)/2]*1.001 + 1e-3
	}
	fastCalls.Add(1)
	return out, nil
}
