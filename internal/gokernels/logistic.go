package gokernels

import (
	"math"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// The float32 logistic (sigmoid), the SiLU of every U-Net and MLP layer: simplego evaluates
// it one value at a time in float64 with math.Exp. Here it is evaluated in float32 as an AVX
// loop (logistic_amd64.s: a Cephes-style expf and one division), eight lanes at a time, or
// sixteen where the CPU has AVX-512, the same instructions on every lane so that both loops
// give the same bits. It is not simplego's bits: TestLogisticAgainstFloat64 bounds its error
// against the float64 formula, and the self-check compares it with simplego's within
// logisticTolerance. An earlier loop reproduced simplego's float64 exp and division bit for
// bit, at five times the cost, which was a twentieth of the U-Net's step.

// logisticTolerance is how far the self-check lets the fast logistic be from simplego's: a
// few float32 ulps of values in [0, 1].
const logisticTolerance = 1e-6

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
	if !(vecSupported && kernelSupported) {
		for i, x := range src {
			dst[i] = logisticOne(x)
		}
		return
	}
	n, done := len(dst), 0
	if useAVX512 {
		vlogistic512Asm(dst, src, n)
		done = n - n%16
	}
	vlogisticAsm(dst[done:], src[done:], n-done)
	done = n - n%8
	if done < n {
		// The last values go through the same loop, padded to a whole vector.
		var buf [8]float32
		copy(buf[:], src[done:])
		vlogisticAsm(buf[:], buf[:], len(buf))
		copy(dst[done:], buf[:n-done])
	}
}

// logisticOne is simplego's formula for one value, for builds without the AVX loops.
func logisticOne(x float32) float32 {
	if x >= 0 {
		return float32(1.0 / (1.0 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1.0 + e))
}
