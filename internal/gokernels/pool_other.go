//go:build !amd64

package gokernels

// Without the AVX loops the element-wise max runs its Go loop (vecSupported is false).

func vmaxAsm(dst, a, b []float32, n int)               {}
func vmaxScalarAsm(dst, a []float32, s float32, n int) {}
