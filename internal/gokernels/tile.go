package gokernels

// The micro-kernels compute an mr x nr tile of C. With AVX-512 the tile is 8 x 16 (one zmm
// accumulator a row, kernel512_amd64.s), else 6 x 16 (two ymm a row, kernel_amd64.s). Both
// run every output element as the same chain of FMAs in the same order, so the tile changes
// how C is cut into pieces and how fast, never a bit of the result.

// maxMr is the most rows of any micro-kernel's tile (scratch tiles are this tall).
const maxMr = 8

var (
	// mr is the rows of C one micro-kernel call computes.
	mr = 6

	microPacked func(k int, a, b, c *float32, ldc int, accumulate bool)                                  = kernel6x16
	microRows   func(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)          = kernel6x16Rows
	microDirect func(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool) = kernel6x16Direct
	microTable  func(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)    = kernel6x16Table
)

func init() { useWideTile(kernel512Supported) }

// useWideTile selects the AVX-512 8 x 16 micro-kernels (on) or the AVX2 6 x 16 ones (off).
// Tests switch it to compare the two.
func useWideTile(on bool) {
	if on {
		mr, microPacked, microRows, microDirect, microTable = 8, kernel8x16, kernel8x16Rows, kernel8x16Direct, kernel8x16Table
		return
	}
	mr, microPacked, microRows, microDirect, microTable = 6, kernel6x16, kernel6x16Rows, kernel6x16Direct, kernel6x16Table
}

// kernelName names the micro-kernel in use for `runner version` and the runs' provenance.
func kernelName() string {
	if mr == 8 {
		return "avx512 8x16"
	}
	return "avx2-fma 6x16"
}
