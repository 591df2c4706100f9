// Package gokernels holds the fast kernels of GoMLX's pure-Go backend (simplego, the "go"
// backend): it replaces the float32 matrix product with a packed AVX2/FMA kernel, and a few
// memory-bound ops that simplego runs one element at a time through index iterators with
// loops over contiguous blocks: whole-row Gather and ScatterSum (the U-Net's im2col
// convolution, its upsampling and their gradients; rows.go), element-wise Add, Sub, Mul and
// Div with a broadcast or scalar operand (binary.go), unit-stride Slice and ReduceSum over
// leading or trailing axes (memops.go), BroadcastInDim in runs (broadcast.go), and the
// random bits of RandomUniform a uint64 at a time (random.go) with the ops that make them a
// dropout mask: ConvertDType from uint32 and bool, Abs, and Min and GreaterOrEqual with a
// scalar (unary.go). Those give simplego's results bit for bit (the same copies, the same
// sums in the same order, the same draws), which tests check case by case and the
// self-check checks at start-up; other cases go to simplego's own executors.
//
// The float32 logistic (logistic.go) is evaluated in float32 by an AVX loop, within 3 ulps
// of the float64 formula that simplego evaluates; the self-check compares the two within a
// tolerance.
//
// The float32 ConvGeneral (conv.go; the U-Net's 3x3 convolutions and, through
// internal/conv, their gradients) runs as an implicit-im2col product: the input is copied
// once, padded and dilated, and the kernel reads each output pixel's patch through offset
// tables (the Table kernels), so no nine-fold patch tensor exists; a same-size 3x3
// convolution pads only what its border pixels read (border.go). Its sums run in another
// order than simplego's convolution loops, so like the matmul it is checked against the stock
// path within Tolerance (tests check it against float64 loops on every stride and padding the
// U-Net uses). The one switch turns all of these on or off together.
//
// This package is the only code in ddpm-runner that reaches into simplego's internals:
// GoMLX v0.26.0 has no exported way to replace an op's implementation, so the hook goes
// through go:linkname to simplego's executor table (nodeExecutors) and its buffer pool
// ((*Backend).getBufferForShape), and reads simplego's Node, Buffer and DotGeneral node data
// through mirrored struct layouts. (backend/dotgrad.go reads two unexported fields of GoMLX's
// graph package by reflection, read-only, to build the DotGeneral gradient.) Three guards
// keep this safe:
//
//   - TestPinnedToGoMLX fails, saying what to re-check, if GoMLX is not v0.26.0 or if any
//     mirrored layout differs (field names, types and offsets, compared by reflection).
//   - At run time the layouts are compared again before the hook goes in, and the node
//     data's type is verified on first use; any difference keeps the stock kernel.
//   - The first go backend of a process runs a self-check: a few products in every operand
//     layout, a batch axis and a two-block contraction, on the fast and the stock kernel. If
//     they differ by more than Tolerance (relative to the largest output) or anything above
//     fails, one warning line goes to standard error and the stock kernel stays in use.
//
// Products with one output column (a convolution to one channel, its kernel gradient) run
// on two AVX2 matrix-vector kernels instead (gemv.go), in a fixed order of their own,
// checked against float64 like the tiles.
//
// Products with few 16-wide column panels read A in place instead of packing it (the Direct
// kernels when A's rows and columns are arithmetic progressions, the Table kernels through
// both offset tables otherwise, the Rows kernels when A's rows are contiguous): a packed A
// panel pays for itself only when enough B panels reuse it (direct.go says how many). The
// FMAs are the same, in the same order, so the result is bit for bit that of the packed
// path (TestDirectKernelEqualsPacked, TestTableKernelEqualsPacked).
//
// The fast kernel is on by default where the CPU has AVX2 and FMA; $DDPM_FAST_MATMUL=0 or
// the runner's --backend go:stock or --fast-matmul=false turns it off, and `runner version`
// and every run's environment (key "matmul") say which kernel ran. The fast kernel is
// recorded there as "fastdot <micro-kernel>", the name it had when this package held only
// the matrix product; the name stays so that runs recorded before and after compare.
//
// # The kernel
//
// A GotoBLAS/BLIS-style product: B is packed into 16-wide panels and A into mr-tall panels,
// kc = 256 deep, and an assembly micro-kernel keeps a tile of C in registers, one FMA chain
// per element. With AVX2 (kernel_amd64.s) the tile is 6 x 16 in twelve YMM registers; where
// the CPU has AVX-512F (kernel512_amd64.s) it is 8 x 16 in eight ZMM registers, 8 x 32 over
// two full panels (each broadcast of A feeding two FMAs), and 16 x 16 for offset-table rows
// at a constant stride. Every tile runs each element's FMA chain in the same order and adds
// it to C the same way, so the AVX-512 kernels change speed, not bits
// (TestWideTileEqualsNarrow runs every path on both). Operands are described by offset tables
// (the flat offset of each free and each contracted index), so any DotGeneral layout,
// including the U-Net's im2col patches with non-adjacent contracting axes, is read in place
// without a transpose. Rows (or, for short products, columns) of C are split between
// GOMAXPROCS workers; every element is summed in the same order whatever the split, so
// results are bit-identical for any number of workers and on any AVX2/FMA machine, with or
// without AVX-512.
//
// # The team
//
// Every op that splits its work (products, element-wise passes, sums, copies) hands its parts
// to a team (team.go): the calling goroutine and GOMAXPROCS-1 helpers that spin for a moment
// after each op, so that the next op's hand-off costs an atomic store instead of waking a
// thread. Core k takes part k first (its number read with RDPID on amd64), so an op finds the
// part of its operand that it reads where the op before wrote it, in the same core's cache,
// as OpenMP's static schedules give PyTorch. The graph's ops themselves run one after another
// (internal/gobackend), each spread over the team.
//
// # Subnormal numbers
//
// The micro-kernels run with denormals-are-zero and flush-to-zero set (flush_amd64.h): a
// subnormal float32 in A, B or C is read as zero and a subnormal sum is written as zero,
// and the edge tiles that are added to C in Go are flushed the same way. Without it, every
// FMA that meets a subnormal takes a microcode assist of a hundred cycles or more, and the
// kernels reuse each row of B in up to 16 FMAs: a U-Net whose activations reach the SiLU's
// far negative tail (where the logistic is subnormal) has a few hundred subnormals in each
// output gradient, which made its kernel-gradient products several times slower and the
// training step's time depend on how far training had gone. The mode is set and restored
// inside each assembly function, so no Go code runs with it, and it is the same on every
// tiling, so the bits still do not depend on the CPU (TestSubnormalsReadAsZero). Values
// below 2^-126 are dropped from sums whose terms are of order one; PyTorch users get the
// same with torch.set_flush_denormal(True).
//
// # Why assembly and not OpenBLAS
//
// Both were measured on this project's 2-core machine (AMD EPYC, AVX2/FMA/AVX-512):
//
//	                         OpenBLAS 0.3.21 sgemm      gokernels
//	                         1 thread   2 threads       1 worker   2 workers
//	128 x 256 x 912 (fwd)      96.7       180.8           80.2       83-90
//	912 x 256 x 128 (dW)       98.4       125.9           94.1      136-143
//	1024 x 1024 x 1024         95.9       181.5           87.0      157-177  GFLOP/s
//
// (OpenBLAS: bench/openblas/sgemm.c; gokernels: go test -bench Gemm ./internal/gokernels with
// -cpu 1 and 2; the machine is shared and repeated runs vary by about 10%.) OpenBLAS is
// faster on small products, but the assembly kernel was chosen: it needs no system library
// (Debian's libopenblas is not on a fresh machine, and dlopen'ing it would make the fast
// path depend on what happens to be installed), and its summation order is fixed, so the
// same spec and seed give the same bits on every AVX2 machine, whereas Debian's OpenBLAS
// picks its kernel, and with it the order, per CPU model (DYNAMIC_ARCH). At about 90% of
// OpenBLAS on the products that matter the training step is no longer matmul-bound (see
// docs/performance.md).
package gokernels
