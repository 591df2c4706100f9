package gokernels

import (
	"math"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// The ops of a float32 RandomUniform after its random bits, and of a dropout mask after
// that: ConvertDType from uint32 (the bits) and from bool (the mask), Abs, Min with a scalar
// and GreaterOrEqual with a scalar. simplego runs each as a plain loop on one core; here they
// are AVX loops (Abs, Min) or the same Go loops split over the cores, each value computed as
// simplego computes it, so the bits are its own (TestDropoutOpsMatchSimplego). Other dtypes
// and shapes go to simplego's executors.

var stockAbs, stockMin, stockGreaterOrEqual, stockConvert executor

// installUnaryHooks puts the four executors in simplego's table (once).
func installUnaryHooks() {
	if stockAbs == nil {
		stockAbs, stockMin = nodeExecutors[backends.OpTypeAbs], nodeExecutors[backends.OpTypeMin]
		stockGreaterOrEqual = nodeExecutors[backends.OpTypeGreaterOrEqual]
		stockConvert = nodeExecutors[backends.OpTypeConvertDType]
		nodeExecutors[backends.OpTypeAbs] = execAbs
		nodeExecutors[backends.OpTypeMin] = execMinScalar
		nodeExecutors[backends.OpTypeGreaterOrEqual] = execGreaterOrEqualScalar
		nodeExecutors[backends.OpTypeConvertDType] = execConvert
	}
}

// mapFloat32 sets dst[i] = one(src[i]) on all cores: the AVX loop vec, where there is one,
// does the first n - n%8 values of each part with the same arithmetic as one, which does the
// rest.
func mapFloat32(dst, src []float32, vec func(dst, a []float32, n int), one func(float32) float32) {
	inChunks(len(dst), func(lo, hi int) {
		d, a := dst[lo:hi], src[lo:hi]
		done := 0
		if vecSupported && kernelSupported {
			vec(d, a, len(d))
			done = len(d) - len(d)%8
		}
		for i := done; i < len(d); i++ {
			d[i] = one(a[i])
		}
	})
}

// outputFor returns the buffer an element-wise op writes: the operand's own when the op owns
// it and it has the output's dtype and size (as simplego does), else a new one (nil when the
// pool has none).
func outputFor(backend *simplego.Backend, n *nodeLayout, inputs []*simplego.Buffer, inputsOwned []bool, operand int) *simplego.Buffer {
	in := (*bufferLayout)(unsafe.Pointer(inputs[operand]))
	if inputsOwned[operand] && in.shape.DType == n.shape.DType && in.shape.Size() == n.shape.Size() {
		out := inputs[operand]
		inputs[operand] = nil
		return out
	}
	return getBufferForShape(backend, n.shape)
}

// execAbs is the float32 Abs.
func execAbs(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n := (*nodeLayout)(unsafe.Pointer(node))
	x := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	if !active.Load() || n.shape.DType != dtypes.Float32 || x.shape.DType != dtypes.Float32 {
		return stockAbs(backend, node, inputs, inputsOwned)
	}
	src := x.flat.([]float32)
	out := outputFor(backend, n, inputs, inputsOwned, 0)
	if out == nil {
		return stockAbs(backend, node, inputs, inputsOwned)
	}
	dst := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	mapFloat32(dst, src, vabsAsm, func(v float32) float32 {
		if v < 0 {
			return -v
		}
		return v
	})
	memCalls.Add(1)
	return out, nil
}

// scalarOperand returns which operand of a binary op is a single value while the other has
// the output's shape (0 or 1), or -1.
func scalarOperand(n *nodeLayout, inputs []*simplego.Buffer) int {
	l, r := (*bufferLayout)(unsafe.Pointer(inputs[0])), (*bufferLayout)(unsafe.Pointer(inputs[1]))
	switch {
	case r.shape.Size() == 1 && l.shape.Size() == n.shape.Size() && l.shape.Size() > 1:
		return 1
	case l.shape.Size() == 1 && r.shape.Size() == n.shape.Size() && r.shape.Size() > 1:
		return 0
	}
	return -1
}

// execMinScalar is the float32 Min of a tensor and a scalar that is neither NaN nor zero
// (RandomUniform's clamp below 1), as Go's min, which simplego uses; other cases go to
// simplego.
func execMinScalar(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n := (*nodeLayout)(unsafe.Pointer(node))
	si := scalarOperand(n, inputs)
	if !active.Load() || n.shape.DType != dtypes.Float32 || si < 0 {
		return stockMin(backend, node, inputs, inputsOwned)
	}
	s := (*bufferLayout)(unsafe.Pointer(inputs[si])).flat.([]float32)[0]
	if s == 0 || math.IsNaN(float64(s)) {
		return stockMin(backend, node, inputs, inputsOwned)
	}
	src := (*bufferLayout)(unsafe.Pointer(inputs[1-si])).flat.([]float32)
	out := outputFor(backend, n, inputs, inputsOwned, 1-si)
	if out == nil {
		return stockMin(backend, node, inputs, inputsOwned)
	}
	dst := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	mapFloat32(dst, src, func(d, a []float32, n int) { vminScalarAsm(d, a, s, n) },
		func(v float32) float32 { return min(v, s) })
	memCalls.Add(1)
	return out, nil
}

// execGreaterOrEqualScalar is a float32 tensor compared with a scalar, on either side.
func execGreaterOrEqualScalar(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n := (*nodeLayout)(unsafe.Pointer(node))
	si := scalarOperand(n, inputs)
	if !active.Load() || n.shape.DType != dtypes.Bool || si < 0 ||
		(*bufferLayout)(unsafe.Pointer(inputs[0])).shape.DType != dtypes.Float32 {
		return stockGreaterOrEqual(backend, node, inputs, inputsOwned)
	}
	s := (*bufferLayout)(unsafe.Pointer(inputs[si])).flat.([]float32)[0]
	src := (*bufferLayout)(unsafe.Pointer(inputs[1-si])).flat.([]float32)
	out := getBufferForShape(backend, n.shape)
	if out == nil {
		return stockGreaterOrEqual(backend, node, inputs, inputsOwned)
	}
	dst := (*bufferLayout)(unsafe.Pointer(out)).flat.([]bool)
	inChunks(len(dst), func(lo, hi int) {
		if si == 1 {
			for i, v := range src[lo:hi] {
				dst[lo+i] = v >= s
			}
			return
		}
		for i, v := range src[lo:hi] {
			dst[lo+i] = s >= v
		}
	})
	memCalls.Add(1)
	return out, nil
}

// execConvert converts uint32 (random bits) or bool (masks) to float32 with Go's
// conversions, as simplego does.
func execConvert(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n := (*nodeLayout)(unsafe.Pointer(node))
	x := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	if !active.Load() || n.shape.DType != dtypes.Float32 || (x.shape.DType != dtypes.Uint32 && x.shape.DType != dtypes.Bool) {
		return stockConvert(backend, node, inputs, inputsOwned)
	}
	out := outputFor(backend, n, inputs, inputsOwned, 0)
	if out == nil {
		return stockConvert(backend, node, inputs, inputsOwned)
	}
	dst := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32)
	switch src := x.flat.(type) {
	case []uint32:
		inChunks(len(dst), func(lo, hi int) {
			for i, v := range src[lo:hi] {
				dst[lo+i] = float32(v)
			}
		})
	case []bool:
		// A Go bool is the byte 0 or 1; converting the byte needs no branch, which a random
		// mask would mispredict half the time.
		bytes := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(src))), len(src))
		inChunks(len(dst), func(lo, hi int) {
			for i, v := range bytes[lo:hi] {
				dst[lo+i] = float32(v)
			}
		})
	}
	memCalls.Add(1)
	return out, nil
}
