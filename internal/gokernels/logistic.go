package gokernels

import (
	"math"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// The float32 logistic (sigmoid), the SiLU of every U-Net and MLP layer, and in the U-Net
// the largest element-wise cost: simplego evaluates it one value at a time in float64 with
// math.Exp, which took a fifth of the U-Net training step. vlogisticAsm runs the same float64
// arithmetic four lanes at a time (the Go runtime's exp algorithm, step for step, then the
// same division and rounding), so the results are simplego's bits; where the CPU has AVX-512
// the same loop runs eight lanes at a time (vlogistic512Asm), with the same bits.

var stockLogistic executor

// useAVX512 selects the AVX-512 loop where the CPU has one (tests turn it off to compare the
// two loops).
var useAVX512 = avx512Supported

// installLogisticHook puts execLogistic in simplego's table (once).
func installLogisticHook() {
	if stockLogistic == nil {
		stockLogistic = nodeExecutors[backends.OpTypeLogistic]
		nodeExecutors[backends.OpTypeLogistic] = execLogistic
	}
}

// execLogistic is the float32 logistic as an AVX loop; other dtypes go to simplego's.
func execLogistic(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error) {
	n := (*nodeLayout)(unsafe.Pointer(node))
	x := (*bufferLayout)(unsafe.Pointer(inputs[0]))
	if !active.Load() || n.shape.DType != dtypes.Float32 || x.shape.DType != dtypes.Float32 {
		return stockLogistic(backend, node, inputs, inputsOwned)
	}
	var out *simplego.Buffer
	if inputsOwned[0] {
		out, inputs[0] = inputs[0], nil
	} else if out = getBufferForShape(backend, n.shape); out == nil {
		return stockLogistic(backend, node, inputs, inputsOwned)
	}
	dst, src := (*bufferLayout)(unsafe.Pointer(out)).flat.([]float32), x.flat.([]float32)
	inChunks(len(dst), func(lo, hi int) { logistic(dst[lo:hi], src[lo:hi]) })
	memCalls.Add(1)
	return out, nil
}

// logistic writes the sigmoid of src to dst (which may be src).
func logistic(dst, src []float32) {
	done := 0
	if vecSupported && kernelSupported {
		if useAVX512 {
			vlogistic512Asm(dst, src, len(dst))
			done = len(dst) - len(dst)%16
		}
		vlogisticAsm(dst[done:], src[done:], len(dst)-done)
		done = len(dst) - len(dst)%8
	}
	for i := done; i < len(dst); i++ {
		dst[i] = logisticOne(src[i])
	}
}

// logisticOne is simplego's formula for one value.
func logisticOne(x float32) float32 {
	if x >= 0 {
		return float32(1.0 / (1.0 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1.0 + e))
}
