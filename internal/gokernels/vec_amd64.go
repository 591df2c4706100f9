package gokernels

// The AVX loops of vec_amd64.s; n is how many values to process, of which they do the first
// n - n%8.

//go:noescape
func vmulAsm(dst, a, b []float32, n int)

//go:noescape
func vaddAsm(dst, a, b []float32, n int)

//go:noescape
func vsubAsm(dst, a, b []float32, n int)

//go:noescape
func vdivAsm(dst, a, b []float32, n int)

//go:noescape
func vmulScalarAsm(dst, a []float32, s float32, n int)

//go:noescape
func vaddScalarAsm(dst, a []float32, s float32, n int)

//go:noescape
func vsubScalarAsm(dst, a []float32, s float32, n int)

//go:noescape
func vdivScalarAsm(dst, a []float32, s float32, n int)

//go:noescape
func vrsubScalarAsm(dst, a []float32, s float32, n int)

//go:noescape
func vrdivScalarAsm(dst, a []float32, s float32, n int)

//go:noescape
func vsqrtAsm(dst, a []float32, n int)

//go:noescape
func vminScalarAsm(dst, a []float32, s float32, n int)

//go:noescape
func vabsAsm(dst, a []float32, n int)

//go:noescape
func vaccRows32Asm(dst, x []float32, stride, rows int)

//go:noescape
func vaccRows8Asm(dst, x []float32, stride, rows int)

//go:noescape
func gatherRowsAsm(dst, src []float32, idx []int32, row int)

//go:noescape
func scatterAddRowsAsm(dst, upd []float32, idx []int32, row, lo, hi int)

const vecSupported = true

//go:noescape
func vlogisticAsm(dst, a []float32, n int)

// vlogistic512Asm is vlogisticAsm on AVX-512 registers, sixteen values at a time: the same
// operations on every value, so the same bits; it processes the first n - n%16 values.
//
//go:noescape
func vlogistic512Asm(dst, a []float32, n int)
