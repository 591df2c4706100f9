//go:build !amd64

package gokernels

// Without the AVX loops every element-wise fast path runs its Go loop.

func vmulAsm(dst, a, b []float32, n int)                {}
func vaddAsm(dst, a, b []float32, n int)                {}
func vsubAsm(dst, a, b []float32, n int)                {}
func vdivAsm(dst, a, b []float32, n int)                {}
func vmulScalarAsm(dst, a []float32, s float32, n int)  {}
func vaddScalarAsm(dst, a []float32, s float32, n int)  {}
func vsubScalarAsm(dst, a []float32, s float32, n int)  {}
func vdivScalarAsm(dst, a []float32, s float32, n int)  {}
func vrsubScalarAsm(dst, a []float32, s float32, n int) {}
func vrdivScalarAsm(dst, a []float32, s float32, n int) {}

func vsqrtAsm(dst, a []float32, n int)                 {}
func vminScalarAsm(dst, a []float32, s float32, n int) {}
func vabsAsm(dst, a []float32, n int)                  {}
func vaccRows32Asm(dst, x []float32, stride, rows int) {}
func vaccRows8Asm(dst, x []float32, stride, rows int)  {}

func gatherRowsAsm(dst, src []float32, idx []int32, row int)             {}
func scatterAddRowsAsm(dst, upd []float32, idx []int32, row, lo, hi int) {}

const vecSupported = false

func vlogisticAsm(dst, a []float32, n int)    {}
func vlogistic512Asm(dst, a []float32, n int) {}
