package gokernels

// The AVX loops of pool_amd64.s; they do the first n - n%8 values.

//go:noescape
func vmaxAsm(dst, a, b []float32, n int)

//go:noescape
func vmaxScalarAsm(dst, a []float32, s float32, n int)
