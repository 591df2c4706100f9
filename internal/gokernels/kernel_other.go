//go:build !amd64

package gokernels

const (
	kernelSupported = false
	avx512Supported = false
)

func kernel6x16(k int, a, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel6x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel6x16Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel6x16Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x16(k int, a, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x16Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x16Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x32(k int, a, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x32Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x32Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel8x32Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func kernel16x16Prog(k int, a *float32, rowStride int, colOff *int, b, c *float32, ldc int, accumulate bool) {
	panic("gokernels: no micro-kernel on this architecture")
}

func gemvCols16Asm(k int, a *float32, colOff *int, b *float32, c *float32) {
	panic("gokernels: no AVX2 kernel on this architecture")
}

func gemvRows16Asm(rows int, a *float32, rowOff *int, runs int, runOff *int, b *float32, c *float32) {
	panic("gokernels: no AVX2 kernel on this architecture")
}
