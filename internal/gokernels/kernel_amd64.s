#include "textflag.h"
#include "flush_amd64.h"

// PACKED_STEP(a, b) is one step p of kernel6x16: the 16 floats of B's panel at b(DI) times
// each of the 6 floats of A's packed panel at a(SI), added into the accumulators Y0-Y11
// (row r in Y2r and Y2r+1), one FMA per output element.
#define PACKED_STEP(a, b) \
	VMOVUPS      b(DI), Y12 \
	VMOVUPS      b+32(DI), Y13 \
	VBROADCASTSS a(SI), Y14 \
	VFMADD231PS  Y12, Y14, Y0 \
	VFMADD231PS  Y13, Y14, Y1 \
	VBROADCASTSS a+4(SI), Y15 \
	VFMADD231PS  Y12, Y15, Y2 \
	VFMADD231PS  Y13, Y15, Y3 \
	VBROADCASTSS a+8(SI), Y14 \
	VFMADD231PS  Y12, Y14, Y4 \
	VFMADD231PS  Y13, Y14, Y5 \
	VBROADCASTSS a+12(SI), Y15 \
	VFMADD231PS  Y12, Y15, Y6 \
	VFMADD231PS  Y13, Y15, Y7 \
	VBROADCASTSS a+16(SI), Y14 \
	VFMADD231PS  Y12, Y14, Y8 \
	VFMADD231PS  Y13, Y14, Y9 \
	VBROADCASTSS a+20(SI), Y15 \
	VFMADD231PS  Y12, Y15, Y10 \
	VFMADD231PS  Y13, Y15, Y11

// ROWS_STEP(a, b) is PACKED_STEP with A read in place: rows 0-2 at a(SI), a(SI)(R10*1),
// a(SI)(R10*2) and rows 3-5 the same from BX (R10: the row stride in bytes).
#define ROWS_STEP(a, b) \
	VMOVUPS      b(DI), Y12 \
	VMOVUPS      b+32(DI), Y13 \
	VBROADCASTSS a(SI), Y14 \
	VFMADD231PS  Y12, Y14, Y0 \
	VFMADD231PS  Y13, Y14, Y1 \
	VBROADCASTSS a(SI)(R10*1), Y15 \
	VFMADD231PS  Y12, Y15, Y2 \
	VFMADD231PS  Y13, Y15, Y3 \
	VBROADCASTSS a(SI)(R10*2), Y14 \
	VFMADD231PS  Y12, Y14, Y4 \
	VFMADD231PS  Y13, Y14, Y5 \
	VBROADCASTSS a(BX), Y15 \
	VFMADD231PS  Y12, Y15, Y6 \
	VFMADD231PS  Y13, Y15, Y7 \
	VBROADCASTSS a(BX)(R10*1), Y14 \
	VFMADD231PS  Y12, Y14, Y8 \
	VFMADD231PS  Y13, Y14, Y9 \
	VBROADCASTSS a(BX)(R10*2), Y15 \
	VFMADD231PS  Y12, Y15, Y10 \
	VFMADD231PS  Y13, Y15, Y11

// func kernel6x16(k int, a, b, c *float32, ldc int, accumulate bool)
//
// C[0:6, 0:16] (row stride ldc floats) = or += sum over p < k of a[6p:6p+6] (outer) b[16p:16p+16].
// a and b are packed panels (see pack.go). The twelve accumulators live in Y0-Y11; every
// output element is one chain of FMAs in p order, so the result does not depend on how the
// caller splits the matrix. The loop is unrolled four steps deep (then single steps for the
// rest of k): the same FMAs in the same order, with a quarter of the loop overhead, which
// raised the kernel alone from about 92 to 103 GFLOP/s on one core here.
TEXT ·kernel6x16(SB), NOSPLIT, $8-41
	FLUSH_ON
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	TESTQ CX, CX
	JE    done

	MOVQ CX, BX
	SHRQ $2, BX
	JE   tail
loop4:
	PACKED_STEP(0, 0)
	PACKED_STEP(24, 64)
	PACKED_STEP(48, 128)
	PACKED_STEP(72, 192)
	ADDQ         $96, SI
	ADDQ         $256, DI
	DECQ         BX
	JNE          loop4
tail:
	ANDQ $3, CX
	JE   done
loop1:
	PACKED_STEP(0, 0)
	ADDQ         $24, SI
	ADDQ         $64, DI
	DECQ         CX
	JNE          loop1
done:
	MOVBLZX accumulate+40(FP), AX
	TESTL   AX, AX
	JE      store

	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	ADDQ    R8, DX
	VADDPS  (DX), Y2, Y2
	VADDPS  32(DX), Y3, Y3
	ADDQ    R8, DX
	VADDPS  (DX), Y4, Y4
	VADDPS  32(DX), Y5, Y5
	ADDQ    R8, DX
	VADDPS  (DX), Y6, Y6
	VADDPS  32(DX), Y7, Y7
	ADDQ    R8, DX
	VADDPS  (DX), Y8, Y8
	VADDPS  32(DX), Y9, Y9
	ADDQ    R8, DX
	VADDPS  (DX), Y10, Y10
	VADDPS  32(DX), Y11, Y11
	MOVQ    c+24(FP), DX

store:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel6x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel6x16 with A read in place instead of from a packed panel: row r, step p of A is at
// a + r*rowStride + p*kStride floats. The FMAs are the same, in the same order, so the result
// is bit for bit that of packing A first. It saves the packing when A is used once (a
// product with at most two column panels, as the convolutions' are).
// func kernel6x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel6x16 with A read in place instead of from a packed panel: row r, step p of A is at
// a + r*rowStride + p*kStride floats. The FMAs are the same, in the same order, so the result
// is bit for bit that of packing A first. It saves the packing when A is used once (a
// product with at most two column panels, as the convolutions' are).
TEXT ·kernel6x16Direct(SB), NOSPLIT, $8-57
	FLUSH_ON
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rowStride+16(FP), R10
	SHLQ $2, R10
	MOVQ kStride+24(FP), R11
	SHLQ $2, R11
	MOVQ b+32(FP), DI
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	LEAQ (R10)(R10*2), BX
	ADDQ SI, BX // BX: row 3

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	TESTQ CX, CX
	JE    ddone

dloop:
	VMOVUPS      (DI), Y12
	VMOVUPS      32(DI), Y13
	VBROADCASTSS (SI), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS (SI)(R10*1), Y15
	VFMADD231PS  Y12, Y15, Y2
	VFMADD231PS  Y13, Y15, Y3
	VBROADCASTSS (SI)(R10*2), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS (BX), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VBROADCASTSS (BX)(R10*1), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS (BX)(R10*2), Y15
	VFMADD231PS  Y12, Y15, Y10
	VFMADD231PS  Y13, Y15, Y11
	ADDQ         R11, SI
	ADDQ         R11, BX
	ADDQ         $64, DI
	DECQ         CX
	JNE          dloop

ddone:
	MOVBLZX accumulate+56(FP), AX
	TESTL   AX, AX
	JE      dstore

	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	ADDQ    R8, DX
	VADDPS  (DX), Y2, Y2
	VADDPS  32(DX), Y3, Y3
	ADDQ    R8, DX
	VADDPS  (DX), Y4, Y4
	VADDPS  32(DX), Y5, Y5
	ADDQ    R8, DX
	VADDPS  (DX), Y6, Y6
	VADDPS  32(DX), Y7, Y7
	ADDQ    R8, DX
	VADDPS  (DX), Y8, Y8
	VADDPS  32(DX), Y9, Y9
	ADDQ    R8, DX
	VADDPS  (DX), Y10, Y10
	VADDPS  32(DX), Y11, Y11
	MOVQ    c+40(FP), DX

dstore:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel6x16Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)
//
// kernel6x16Direct with A's rows and steps from tables: row r, step p of A is at
// a + rowOff[r] + colOff[p] floats (an implicit im2col operand, whose steps jump from one
// kernel tap to the next and whose rows jump at image rows; a kernel gradient's, whose rows
// jump from tap to tap). The FMAs are the same, in the same order, as with A packed.
TEXT ·kernel6x16Table(SB), NOSPLIT, $8-57
	FLUSH_ON
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ rowOff+16(FP), R11
	MOVQ (R11), SI
	LEAQ (AX)(SI*4), SI
	MOVQ 8(R11), R9
	LEAQ (AX)(R9*4), R9
	MOVQ 16(R11), R10
	LEAQ (AX)(R10*4), R10
	MOVQ 24(R11), R12
	LEAQ (AX)(R12*4), R12
	MOVQ 32(R11), R13
	LEAQ (AX)(R13*4), R13
	MOVQ 40(R11), BX
	LEAQ (AX)(BX*4), BX
	MOVQ colOff+24(FP), R11
	MOVQ b+32(FP), DI

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	TESTQ CX, CX
	JE    tdone

tloop:
	MOVQ         (R11), AX
	VMOVUPS      (DI), Y12
	VMOVUPS      32(DI), Y13
	VBROADCASTSS (SI)(AX*4), Y14
	VFMADD231PS  Y12, Y14, Y0
	VFMADD231PS  Y13, Y14, Y1
	VBROADCASTSS (R9)(AX*4), Y15
	VFMADD231PS  Y12, Y15, Y2
	VFMADD231PS  Y13, Y15, Y3
	VBROADCASTSS (R10)(AX*4), Y14
	VFMADD231PS  Y12, Y14, Y4
	VFMADD231PS  Y13, Y14, Y5
	VBROADCASTSS (R12)(AX*4), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VBROADCASTSS (R13)(AX*4), Y14
	VFMADD231PS  Y12, Y14, Y8
	VFMADD231PS  Y13, Y14, Y9
	VBROADCASTSS (BX)(AX*4), Y15
	VFMADD231PS  Y12, Y15, Y10
	VFMADD231PS  Y13, Y15, Y11
	ADDQ         $8, R11
	ADDQ         $64, DI
	DECQ         CX
	JNE          tloop

tdone:
	MOVQ    c+40(FP), DX
	MOVQ    ldc+48(FP), R8
	SHLQ    $2, R8
	MOVBLZX accumulate+56(FP), AX
	TESTL   AX, AX
	JE      tstore

	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	ADDQ    R8, DX
	VADDPS  (DX), Y2, Y2
	VADDPS  32(DX), Y3, Y3
	ADDQ    R8, DX
	VADDPS  (DX), Y4, Y4
	VADDPS  32(DX), Y5, Y5
	ADDQ    R8, DX
	VADDPS  (DX), Y6, Y6
	VADDPS  32(DX), Y7, Y7
	ADDQ    R8, DX
	VADDPS  (DX), Y8, Y8
	VADDPS  32(DX), Y9, Y9
	ADDQ    R8, DX
	VADDPS  (DX), Y10, Y10
	VADDPS  32(DX), Y11, Y11
	MOVQ    c+40(FP), DX

tstore:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel6x16Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel6x16Direct for the common case of an A whose rows are contiguous (row r, step p at
// a + r*rowStride + p floats: an activation matrix), unrolled four steps deep like
// kernel6x16. The FMAs are the same, in the same order, as with A packed.
TEXT ·kernel6x16Rows(SB), NOSPLIT, $8-49
	FLUSH_ON
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rowStride+16(FP), R10
	SHLQ $2, R10
	MOVQ b+24(FP), DI
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	LEAQ (R10)(R10*2), BX
	ADDQ SI, BX // BX: row 3

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	TESTQ CX, CX
	JE    rdone

	MOVQ CX, R11
	SHRQ $2, R11
	JE   rtail
rloop4:
	ROWS_STEP(0, 0)
	ROWS_STEP(4, 64)
	ROWS_STEP(8, 128)
	ROWS_STEP(12, 192)
	ADDQ         $16, SI
	ADDQ         $16, BX
	ADDQ         $256, DI
	DECQ         R11
	JNE          rloop4
rtail:
	ANDQ $3, CX
	JE   rdone
rloop1:
	ROWS_STEP(0, 0)
	ADDQ         $4, SI
	ADDQ         $4, BX
	ADDQ         $64, DI
	DECQ         CX
	JNE          rloop1

rdone:
	MOVBLZX accumulate+48(FP), AX
	TESTL   AX, AX
	JE      rstore

	VADDPS  (DX), Y0, Y0
	VADDPS  32(DX), Y1, Y1
	ADDQ    R8, DX
	VADDPS  (DX), Y2, Y2
	VADDPS  32(DX), Y3, Y3
	ADDQ    R8, DX
	VADDPS  (DX), Y4, Y4
	VADDPS  32(DX), Y5, Y5
	ADDQ    R8, DX
	VADDPS  (DX), Y6, Y6
	VADDPS  32(DX), Y7, Y7
	ADDQ    R8, DX
	VADDPS  (DX), Y8, Y8
	VADDPS  32(DX), Y9, Y9
	ADDQ    R8, DX
	VADDPS  (DX), Y10, Y10
	VADDPS  32(DX), Y11, Y11
	MOVQ    c+32(FP), DX

rstore:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ    R8, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	FLUSH_OFF
	VZEROUPPER
	RET
