package gokernels

// The micro-kernels compute an mr x nr tile of C, or with AVX-512 an mr x 2nr one where two
// full column panels sit side by side. With AVX-512 the tile is 8 rows (one zmm accumulator a
// row and panel, kernel512_amd64.s), else 6 (two ymm a row, kernel_amd64.s). All of them run
// every output element as the same chain of FMAs in the same order, so the tile changes how
// C is cut into pieces and how fast, never a bit of the result.

// maxMr is the most rows of any micro-kernel's tile (scratch tiles are this tall).
const maxMr = 8

type (
	packedKernel func(k int, a, b, c *float32, ldc int, accumulate bool)
	rowsKernel   func(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)
	directKernel func(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)
	tableKernel  func(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)
)

var (
	// mr is the rows of C one micro-kernel call computes.
	mr = 6

	// The kernels of one column panel, by how A is read.
	microPacked packedKernel = kernel6x16
	microRows   rowsKernel   = kernel6x16Rows
	microDirect directKernel = kernel6x16Direct
	microTable  tableKernel  = kernel6x16Table

	// The kernels of two full column panels side by side (nil: none).
	microPacked2 packedKernel
	microRows2   rowsKernel
	microDirect2 directKernel
	microTable2  tableKernel

	// microProg16 computes 16 rows of one column panel whose offsets are an arithmetic
	// progression, A's columns through their table (nil: none).
	microProg16 func(k int, a *float32, rowStride int, colOff *int, b, c *float32, ldc int, accumulate bool)
)

func init() { useWideTile(avx512Supported) }

// useWideTile selects the AVX-512 kernels (on) or the AVX2 6 x 16 ones (off). Tests switch
// it to compare the two.
func useWideTile(on bool) {
	if on {
		mr, microPacked, microRows, microDirect, microTable = 8, kernel8x16, kernel8x16Rows, kernel8x16Direct, kernel8x16Table
		microPacked2, microRows2, microDirect2, microTable2 = kernel8x32, kernel8x32Rows, kernel8x32Direct, kernel8x32Table
		microProg16 = kernel16x16Prog
		return
	}
	mr, microPacked, microRows, microDirect, microTable = 6, kernel6x16, kernel6x16Rows, kernel6x16Direct, kernel6x16Table
	microPacked2, microRows2, microDirect2, microTable2 = nil, nil, nil, nil
	microProg16 = nil
}

// panelsAt is how many column panels one micro-kernel call covers from panel j, below
// colHi, of a product n columns wide: two where a two-panel kernel exists and both are full.
func panelsAt(j, colHi, n int) int {
	if microPacked2 != nil && j+1 < colHi && (j+2)*nr <= n {
		return 2
	}
	return 1
}

// kernelName names the micro-kernel in use for `runner version` and the runs' provenance.
func kernelName() string {
	if mr == 8 {
		return "avx512 8x16, 8x32, 16x16"
	}
	return "avx2-fma 6x16"
}
