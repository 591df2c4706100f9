package gokernels

import (
	"math"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Element-wise float32 Add, Sub, Mul and Div of two same-shape operands, or of one operand and
// a scalar, run as AVX loops (vec_amd64.s); an Add whose operand is broadcast along leading
// axes (a bias) runs as a loop over rows. Each output value is the one IEEE operation
// simplego computes, so the results are its bits. The optimizer's update, the gradient
// clipping and the weights' EMA are made of these ops, over every parameter at every step.

// binaryOp is one of the four operations.
type binaryOp struct {
	vec     func(dst, a, b []float32, n int)
	scalar  func(dst, a []float32, s float32, n int) // a op s
	rscalar func(dst, a []float32, s float32, n int) // s op a
	one     func(a, b float32) float32
	stock   *executor
}

var (
	stockAdd, stockMul, stockSub, stockDiv executor

	opAdd = binaryOp{vaddAsm, vaddScalarAsm, vaddScalarAsm, func(a, b float32) float32 { return a + b }, &stockAdd}
	opSub = binaryOp{vsubAsm, vsubScalarAsm, vrsubScalarAsm, func(a, b float32) float32 { return a - b }, &stockSub}
	opMul = binaryOp{vmulAsm, vmulScalarAsm, vmulScalarAsm, func(a, b float32) float32 { return a * b }, &stockMul}
	opDiv = binaryOp{vdivAsm, vdivScalarAsm, vrdivScalarAsm, func(a, b float32) float32 { return a / b }, &stockDiv}
)

// installBinaryHooks puts the four element-wise ops in simplego's table (once).
func installBinaryHooks() {
	if stockMul == nil {
		stockAdd = nodeExecutors[backends.OpTypeAdd]
		stockMul = nodeExecutors[backends.OpTypeMul]
		stockSub = nodeExecutors[backends.OpTypeSub]
		stockDiv = nodeExecutors[backends.OpTypeDiv]
		nodeExecutors[backends.OpTypeAdd] = opAdd.exec
		nodeExecutors[backends.OpTypeMul] = opMul.exec
		nodeExecutors[backends.OpTypeSub] = opSub.exec
		nodeExecutors[backends.OpTypeDiv] = opDiv.exec
		stockSqrt = nodeExecutors[backends.OpTypeSqrt]
		nodeExecutors[backends.OpTypeSqrt] = execSqrt
	}
}

var stockSqrt executor

// execSqrt is the float32 square root as an AVX loop: VSQRTPS rounds correctly, as does
// simplego's float32(math.Sqrt(float64(x))), so the bits are the same.
func execSqrt(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n := (*nodeLayout)(unsafe.Pointer(node))
	x := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	if !active.Load() || n.shape.DType != dtypes.Float32 || x.shape.DType != dtypes.Float32 || !(vecSupported && kernelSupported) {
		return stockSqrt(backend, node, inputs, inputsOwned)
	}
	var out *simplego.Buffer
	if inputsOwned[0] {
		out, inputs[0] = inputs[0], nil
	} else if out = getBufferForShape(backend, n.shape); out == nil {
		return stockSqrt(backend, node, inputs, inputsOwned)
	}
	src, dst := x.flat.([]float32), (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	mapFloat32(dst, src, vsqrtAsm, func(v float32) float32 { return float32(math.Sqrt(float64(v))) })
	memCalls.Add(1)
	return out, nil
}

// exec is the executor of one op: the fast cases here, any other to simplego's.
func (op binaryOp) exec(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	stock := *op.stock
	if !active.Load() {
		return stock(backend, node, inputs, inputsOwned)
	}
	n := (*nodeLayout)(unsafe.Pointer(node))
	lhs, rhs := (*bufferLayout)(unsafe.Pointer(inputs[0])), (*bufferLayout)(unsafe.Pointer(inputs[1]))
	if n.shape.DType != dtypes.Float32 || lhs.shape.DType != dtypes.Float32 || rhs.shape.DType != dtypes.Float32 {
		return stock(backend, node, inputs, inputsOwned)
	}
	lFull, rFull := lhs.shape.Equal(n.shape), rhs.shape.Equal(n.shape)
	lScalar, rScalar := lhs.shape.Size() == 1, rhs.shape.Size() == 1
	broadcast := op.stock == &stockAdd && lFull != rFull && !lScalar && !rScalar &&
		(lFull && trailingBroadcast(rhs.shape.Dimensions, n.shape.Dimensions) ||
			rFull && trailingBroadcast(lhs.shape.Dimensions, n.shape.Dimensions))
	rowScale := lFull != rFull && !lScalar && !rScalar &&
		(lFull && leadingBroadcast(rhs.shape.Dimensions, n.shape.Dimensions) ||
			rFull && leadingBroadcast(lhs.shape.Dimensions, n.shape.Dimensions))
	var w walk
	general := false
	if !(lFull && rFull) && !(lFull && rScalar) && !(rFull && lScalar) && !broadcast && !rowScale {
		// Any other broadcast of operands of the output's rank walks the output in flat order.
		if w, general = newWalk(n.shape.Dimensions, lhs.shape.Dimensions, rhs.shape.Dimensions); !general {
			return stock(backend, node, inputs, inputsOwned)
		}
	}
	// The output may take the place of an operand that this op owns and that has its shape,
	// as simplego does: every value is read before it is written.
	var out *simplego.Buffer
	switch {
	case inputsOwned[1] && rFull:
		out, inputs[1] = inputs[1], nil
	case inputsOwned[0] && lFull:
		out, inputs[0] = inputs[0], nil
	default:
		if out = getBufferForShape(backend, n.shape); out == nil {
			return stock(backend, node, inputs, inputsOwned)
		}
	}
	dst := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	a, b := lhs.flat.([]float32), rhs.flat.([]float32)
	switch {
	case general:
		op.strided(&w, dst, a, b)
	case lFull && rFull:
		inChunks(len(dst), func(lo, hi int) { op.vecN(dst[lo:hi], a[lo:hi], b[lo:hi]) })
	case lFull && rScalar:
		inChunks(len(dst), func(lo, hi int) { op.scalarN(dst[lo:hi], a[lo:hi], b[0]) })
	case rFull && lScalar: // s op b: 1 - sigmoid(x) in SiLU's gradient
		inChunks(len(dst), func(lo, hi int) { op.rscalarN(dst[lo:hi], b[lo:hi], a[0]) })
	case rowScale && lFull: // one value of b per row of a: q_sample's sqrt(alpha_bar_t) x_0
		w := len(a) / len(b)
		for r, v := range b {
			op.scalarN(dst[r*w:(r+1)*w], a[r*w:(r+1)*w], v)
		}
	case rowScale:
		w := len(b) / len(a)
		for r, s := range a {
			row, d := b[r*w:(r+1)*w], dst[r*w:(r+1)*w]
			if op.stock == &stockSub || op.stock == &stockDiv {
				for j, v := range row {
					d[j] = op.one(s, v)
				}
			} else {
				op.scalarN(d, row, s) // s op v = v op s
			}
		}
	default: // a bias: the small operand repeats along the leading axes
		big, small := a, b
		if rFull {
			big, small = b, a
		}
		// A narrow bias (a convolution's 16 channels) is repeated to a few hundred values, so
		// that the vector loop runs over many rows per call.
		w := len(small)
		rep := small
		if reps := biasRun / w; reps > 1 {
			buf := getPanel(reps * w)
			defer panelPool.Put(buf)
			for r := range reps {
				copy((*buf)[r*w:], small)
			}
			rep = *buf
		}
		inRowChunks(len(big)/w, w, func(lo, hi int) {
			for i := lo * w; i < hi*w; i += len(rep) {
				n := min(len(rep), hi*w-i)
				op.vecN(dst[i:i+n], big[i:i+n], rep[:n]) // a + b and b + a are the same float32
			}
		})
	}
	memCalls.Add(1)
	return out, nil
}

// biasRun is about how many values of a repeated bias one call of the vector loop adds.
const biasRun = 512

// vecN applies the op to whole vectors: the AVX loop, then the last values in Go.
func (op binaryOp) vecN(dst, a, b []float32) {
	n := len(dst)
	done := 0
	if vecSupported && kernelSupported {
		op.vec(dst, a, b, n)
		done = n - n%8
	}
	for i := done; i < n; i++ {
		dst[i] = op.one(a[i], b[i])
	}
}

// rscalarN applies "s op a" to a scalar and a vector.
func (op binaryOp) rscalarN(dst, a []float32, s float32) {
	n := len(dst)
	done := 0
	if vecSupported && kernelSupported {
		op.rscalar(dst, a, s, n)
		done = n - n%8
	}
	for i := done; i < n; i++ {
		dst[i] = op.one(s, a[i])
	}
}

// scalarN applies "a op s" to a vector and a scalar.
func (op binaryOp) scalarN(dst, a []float32, s float32) {
	n := len(dst)
	done := 0
	if vecSupported && kernelSupported {
		op.scalar(dst, a, s, n)
		done = n - n%8
	}
	for i := done; i < n; i++ {
		dst[i] = op.one(a[i], s)
	}
}
