package gokernels

import "golang.org/x/sys/cpu"

// kernelSupported reports whether this CPU (and its operating system) can run kernel6x16.
var kernelSupported = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// avx512Supported reports whether it can run the AVX-512 code: the micro-kernels and the
// logistic (x/sys/cpu also checks that the operating system saves the zmm registers).
var avx512Supported = kernelSupported && cpu.X86.HasAVX512F

// kernel6x16 is the AVX2/FMA micro-kernel in kernel_amd64.s.
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, accumulate bool)

// kernel6x16Direct is kernel6x16 reading A in place (kernel_amd64.s): row r, step p at
// a[r*rowStride + p*kStride].
//
//go:noescape
func kernel6x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)

// kernel6x16Table is kernel6x16Direct with A's rows and steps from tables
// (kernel_amd64.s): row r, step p at a[rowOff[r] + colOff[p]].
//
//go:noescape
func kernel6x16Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)

// kernel6x16Rows is kernel6x16Direct for A with contiguous rows (kStride 1), unrolled
// (kernel_amd64.s): row r, step p at a[r*rowStride + p].
//
//go:noescape
func kernel6x16Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)

// kernel8x16 is kernel6x16's AVX-512 twin for an 8 x 16 tile (kernel512_amd64.s).
//
//go:noescape
func kernel8x16(k int, a, b, c *float32, ldc int, accumulate bool)

// kernel8x16Rows is kernel6x16Rows for an 8 x 16 tile (kernel512_amd64.s).
//
//go:noescape
func kernel8x16Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)

// kernel8x16Direct is kernel6x16Direct for an 8 x 16 tile (kernel512_amd64.s).
//
//go:noescape
func kernel8x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)

// kernel8x16Table is kernel6x16Table for an 8 x 16 tile (kernel512_amd64.s).
//
//go:noescape
func kernel8x16Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)

// kernel8x32 is kernel8x16 over two adjacent panels of B, b and b + 16k floats, into 32 columns of
// C (kernel512_amd64.s).
//
//go:noescape
func kernel8x32(k int, a, b, c *float32, ldc int, accumulate bool)

// kernel8x32Rows is kernel8x16Rows over two adjacent panels of B, b and b + 16k floats, into 32 columns of
// C (kernel512_amd64.s).
//
//go:noescape
func kernel8x32Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)

// kernel8x32Direct is kernel8x16Direct over two adjacent panels of B, b and b + 16k floats, into 32 columns of
// C (kernel512_amd64.s).
//
//go:noescape
func kernel8x32Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)

// kernel8x32Table is kernel8x16Table over two adjacent panels of B, b and b + 16k floats, into 32 columns of
// C (kernel512_amd64.s).
//
//go:noescape
func kernel8x32Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)

// kernel16x16Prog is kernel8x16Table for 16 rows at a constant stride (kernel512_amd64.s):
// row r, step p at a[r*rowStride + colOff[p]].
//
//go:noescape
func kernel16x16Prog(k int, a *float32, rowStride int, colOff *int, b, c *float32, ldc int, accumulate bool)

// gemvCols16Asm and gemvRows16Asm are the products with one output column (gemv.go,
// gemv_amd64.s).
//
//go:noescape
func gemvCols16Asm(k int, a *float32, colOff *int, b *float32, c *float32)

//go:noescape
func gemvRows16Asm(rows int, a *float32, rowOff *int, runs int, runOff *int, b *float32, c *float32)
