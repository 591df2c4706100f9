package fastdot

import (
	"fmt"
	"reflect"
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
		return fmt.Errorf("%s has %d fields (%d bytes); fastdot expects %d (%d bytes)",
			real, real.NumField(), real.Size(), mirror.NumField(), mirror.Size())
	}
	for i := 0; i < real.NumField(); i++ {
		r, m := real.Field(i), mirror.Field(i)
		if r.Name != m.Name || r.Type != m.Type || r.Offset != m.Offset {
			return fmt.Errorf("%s field %d is %s %s at offset %d; fastdot expects %s %s at offset %d",
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
	return nil
}

// dotGeneralParams returns the node's DotGeneral data, verifying the first time that its
// type is laid out as dotGeneralLayout.
func dotGeneralParams(data any) (*dotGeneralLayout, bool) {
	t := reflect.TypeOf(data)
	if known := dotDataType.Load(); known == nil || *known != t {
		if t == nil || t.Kind() != reflect.Pointer || checkLayout(t.Elem(), reflect.TypeFor[dotGeneralLayout]()) != nil {
			return nil, false
		}
		dotDataType.Store(&t)
	}
	// An interface holding a pointer keeps the pointer itself in its data word.
	return (*dotGeneralLayout)((*[2]unsafe.Pointer)(unsafe.Pointer(&data))[1]), true
}

// view is one operand of a DotGeneral as a batch of strided matrices: element (b, i, p),
// with i its free ("cross") index and p the contracted one, is at b*batchStride +
// i*crossStride + p*contractStride.
type view struct {
	batch, cross, contract                   int
	batchStride, crossStride, contractStride int
}

// operandView describes an operand as a view without copying. It fails when an axis group
// (batch axes in the given order, free axes in axis order, contracting axes in the given
// order) is not one arithmetic progression in memory: then simplego's own kernel, which
// transposes first, is used.
func operandView(dims, batchAxes, contractingAxes []int) (view, bool) {
	strides := make([]int, len(dims))
	s := 1
	for ax := len(dims) - 1; ax >= 0; ax-- {
		strides[ax] = s
		s *= dims[ax]
	}
	kind := make([]byte, len(dims))
	for _, ax := range batchAxes {
		kind[ax] = 'b'
	}
	for _, ax := range contractingAxes {
		kind[ax] = 'c'
	}
	var cross []int
	for ax, k := range kind {
		if k == 0 {
			cross = append(cross, ax)
		}
	}
	var v view
	var ok1, ok2, ok3 bool
	v.batch, v.batchStride, ok1 = mergeAxes(dims, strides, batchAxes)
	v.cross, v.crossStride, ok2 = mergeAxes(dims, strides, cross)
	v.contract, v.contractStride, ok3 = mergeAxes(dims, strides, contractingAxes)
	return v, ok1 && ok2 && ok3
}

// mergeAxes flattens axes (outermost first) into one index, if their strides allow it.
func mergeAxes(dims, strides, axes []int) (size, stride int, ok bool) {
	size, last := 1, -1
	for _, ax := range axes {
		if dims[ax] == 1 {
			continue
		}
		if last >= 0 && strides[last] != strides[ax]*dims[ax] {
			return 0, 0, false
		}
		size *= dims[ax]
		stride, last = strides[ax], ax
	}
	return size, stride, true
}

// execDotGeneral replaces simplego's DotGeneral executor: float32 products whose operands
// are strided views run on the packed AVX2/FMA kernel, everything else on the stock one.
func execDotGeneral(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	if !active.Load() {
		return stockExec(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	lhs := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	rhs := (*bufferLayout)(unsafe.Pointer(inputs[1]))
	params, ok := dotGeneralParams(n.data)
	if !ok || lhs.shape.DType != dtypes.Float32 || rhs.shape.DType != dtypes.Float32 || n.shape.DType != dtypes.Float32 {
		fallbackCalls.Add(1)
		return stockExec(backend, node, inputs, inputsOwned)
	}
	lv, okL := operandView(lhs.shape.Dimensions, params.lhsBatchAxes, params.lhsContractingAxes)
	rv, okR := operandView(rhs.shape.Dimensions, params.rhsBatchAxes, params.rhsContractingAxes)
	m, nn, k := lv.cross, rv.cross, lv.contract
	if !okL || !okR || lv.batch != rv.batch || k != rv.contract || n.shape.Size() != lv.batch*m*nn {
		fallbackCalls.Add(1)
		return stockExec(backend, node, inputs, inputsOwned)
	}
	out := getBufferForShape(backend, n.shape)
	if out == nil { // the backend is finalized; let simplego say so
		return stockExec(backend, node, inputs, inputsOwned)
	}
	a, b := lhs.flat.([]float32), rhs.flat.([]float32)
	c := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	workers := defaultWorkers()
	for bi := 0; bi < lv.batch; bi++ {
		gemm(m, nn, k,
			strided{data: a, off: bi * lv.batchStride, rs: lv.crossStride, cs: lv.contractStride},
			strided{data: b, off: bi * rv.batchStride, rs: rv.contractStride, cs: rv.crossStride},
			c[bi*m*nn:(bi+1)*m*nn], workers)
	}
	if corruptForTest.Load() {
		c[len(c)/2] = c[len(c)/2]*1.001 + 1e-3
	}
	fastCalls.Add(1)
	return out, nil
}
