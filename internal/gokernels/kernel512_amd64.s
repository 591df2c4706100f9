#include "textflag.h"

// The AVX-512 micro-kernels: 8 rows of C by one 16-float panel of B, each row one zmm
// accumulator (Z0-Z7), A broadcast straight from memory into the FMA. Every output element is
// the same chain of FMAs in p order as in the AVX2 6x16 kernels (kernel_amd64.s), and C is
// added to the chain's sum the same way, so both give the same bits; only the tiling of C
// differs. Z8 holds B's row.

// ZPACKED_STEP(a, b) is one step p of kernel8x16: B's 16 floats at b(DI) times each of the
// 8 floats of A's packed panel at a(SI).
#define ZPACKED_STEP(a, b) \
	VMOVUPS b(DI), Z8 \
	VFMADD231PS.BCST a(SI), Z8, Z0 \
	VFMADD231PS.BCST a+4(SI), Z8, Z1 \
	VFMADD231PS.BCST a+8(SI), Z8, Z2 \
	VFMADD231PS.BCST a+12(SI), Z8, Z3 \
	VFMADD231PS.BCST a+16(SI), Z8, Z4 \
	VFMADD231PS.BCST a+20(SI), Z8, Z5 \
	VFMADD231PS.BCST a+24(SI), Z8, Z6 \
	VFMADD231PS.BCST a+28(SI), Z8, Z7

// ZROWS_STEP(a, b) is ZPACKED_STEP with A read in place: rows 0-2 at a(SI), a(SI)(R10*1),
// a(SI)(R10*2), rows 3-5 the same from BX, rows 6-7 from R12 (R10: the row stride in bytes).
#define ZROWS_STEP(a, b) \
	VMOVUPS b(DI), Z8 \
	VFMADD231PS.BCST a(SI), Z8, Z0 \
	VFMADD231PS.BCST a(SI)(R10*1), Z8, Z1 \
	VFMADD231PS.BCST a(SI)(R10*2), Z8, Z2 \
	VFMADD231PS.BCST a(BX), Z8, Z3 \
	VFMADD231PS.BCST a(BX)(R10*1), Z8, Z4 \
	VFMADD231PS.BCST a(BX)(R10*2), Z8, Z5 \
	VFMADD231PS.BCST a(R12), Z8, Z6 \
	VFMADD231PS.BCST a(R12)(R10*1), Z8, Z7

// func kernel8x16(k int, a, b, c *float32, ldc int, accumulate bool)
//
// C[0:8, 0:16] (row stride ldc floats) = or += sum over p < k of a[8p:8p+8] (outer)
// b[16p:16p+16], a and b packed panels; unrolled four steps deep as kernel6x16 is.
TEXT ·kernel8x16(SB), NOSPLIT, $0-41
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ CX, CX
	JE    pdone
	MOVQ CX, BX
	SHRQ $2, BX
	JE   ptail
ploop4:
	ZPACKED_STEP(0, 0)
	ZPACKED_STEP(32, 64)
	ZPACKED_STEP(64, 128)
	ZPACKED_STEP(96, 192)
	ADDQ $128, SI
	ADDQ $256, DI
	DECQ BX
	JNE  ploop4
ptail:
	ANDQ $3, CX
	JE   pdone
ploop1:
	ZPACKED_STEP(0, 0)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNE  ploop1
pdone:
	MOVBLZX accumulate+40(FP), AX
	TESTL   AX, AX
	JE      pstore
	VADDPS  (DX), Z0, Z0
	ADDQ    R8, DX
	VADDPS  (DX), Z1, Z1
	ADDQ    R8, DX
	VADDPS  (DX), Z2, Z2
	ADDQ    R8, DX
	VADDPS  (DX), Z3, Z3
	ADDQ    R8, DX
	VADDPS  (DX), Z4, Z4
	ADDQ    R8, DX
	VADDPS  (DX), Z5, Z5
	ADDQ    R8, DX
	VADDPS  (DX), Z6, Z6
	ADDQ    R8, DX
	VADDPS  (DX), Z7, Z7
	MOVQ    c+24(FP), DX

pstore:
	VMOVUPS Z0, (DX)
	ADDQ    R8, DX
	VMOVUPS Z1, (DX)
	ADDQ    R8, DX
	VMOVUPS Z2, (DX)
	ADDQ    R8, DX
	VMOVUPS Z3, (DX)
	ADDQ    R8, DX
	VMOVUPS Z4, (DX)
	ADDQ    R8, DX
	VMOVUPS Z5, (DX)
	ADDQ    R8, DX
	VMOVUPS Z6, (DX)
	ADDQ    R8, DX
	VMOVUPS Z7, (DX)
	VZEROUPPER
	RET

// func kernel8x16Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16 with A's contiguous rows read in place: row r, step p at a + r*rowStride + p
// floats (kernel6x16Rows' eight-row twin).
TEXT ·kernel8x16Rows(SB), NOSPLIT, $0-49
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
	LEAQ (BX)(R10*2), R12
	ADDQ R10, R12 // R12: row 6
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ CX, CX
	JE    rdone
	MOVQ CX, R11
	SHRQ $2, R11
	JE   rtail
rloop4:
	ZROWS_STEP(0, 0)
	ZROWS_STEP(4, 64)
	ZROWS_STEP(8, 128)
	ZROWS_STEP(12, 192)
	ADDQ $16, SI
	ADDQ $16, BX
	ADDQ $16, R12
	ADDQ $256, DI
	DECQ R11
	JNE  rloop4
rtail:
	ANDQ $3, CX
	JE   rdone
rloop1:
	ZROWS_STEP(0, 0)
	ADDQ $4, SI
	ADDQ $4, BX
	ADDQ $4, R12
	ADDQ $64, DI
	DECQ CX
	JNE  rloop1
rdone:
	MOVBLZX accumulate+48(FP), AX
	TESTL   AX, AX
	JE      rstore
	VADDPS  (DX), Z0, Z0
	ADDQ    R8, DX
	VADDPS  (DX), Z1, Z1
	ADDQ    R8, DX
	VADDPS  (DX), Z2, Z2
	ADDQ    R8, DX
	VADDPS  (DX), Z3, Z3
	ADDQ    R8, DX
	VADDPS  (DX), Z4, Z4
	ADDQ    R8, DX
	VADDPS  (DX), Z5, Z5
	ADDQ    R8, DX
	VADDPS  (DX), Z6, Z6
	ADDQ    R8, DX
	VADDPS  (DX), Z7, Z7
	MOVQ    c+32(FP), DX

rstore:
	VMOVUPS Z0, (DX)
	ADDQ    R8, DX
	VMOVUPS Z1, (DX)
	ADDQ    R8, DX
	VMOVUPS Z2, (DX)
	ADDQ    R8, DX
	VMOVUPS Z3, (DX)
	ADDQ    R8, DX
	VMOVUPS Z4, (DX)
	ADDQ    R8, DX
	VMOVUPS Z5, (DX)
	ADDQ    R8, DX
	VMOVUPS Z6, (DX)
	ADDQ    R8, DX
	VMOVUPS Z7, (DX)
	VZEROUPPER
	RET

// func kernel8x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16 with A read in place: row r, step p at a + r*rowStride + p*kStride floats.
TEXT ·kernel8x16Direct(SB), NOSPLIT, $0-57
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
	LEAQ (BX)(R10*2), R12
	ADDQ R10, R12 // R12: row 6
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ CX, CX
	JE    ddone
dloop:
	ZROWS_STEP(0, 0)
	ADDQ R11, SI
	ADDQ R11, BX
	ADDQ R11, R12
	ADDQ $64, DI
	DECQ CX
	JNE  dloop
ddone:
	MOVBLZX accumulate+56(FP), AX
	TESTL   AX, AX
	JE      dstore
	VADDPS  (DX), Z0, Z0
	ADDQ    R8, DX
	VADDPS  (DX), Z1, Z1
	ADDQ    R8, DX
	VADDPS  (DX), Z2, Z2
	ADDQ    R8, DX
	VADDPS  (DX), Z3, Z3
	ADDQ    R8, DX
	VADDPS  (DX), Z4, Z4
	ADDQ    R8, DX
	VADDPS  (DX), Z5, Z5
	ADDQ    R8, DX
	VADDPS  (DX), Z6, Z6
	ADDQ    R8, DX
	VADDPS  (DX), Z7, Z7
	MOVQ    c+40(FP), DX

dstore:
	VMOVUPS Z0, (DX)
	ADDQ    R8, DX
	VMOVUPS Z1, (DX)
	ADDQ    R8, DX
	VMOVUPS Z2, (DX)
	ADDQ    R8, DX
	VMOVUPS Z3, (DX)
	ADDQ    R8, DX
	VMOVUPS Z4, (DX)
	ADDQ    R8, DX
	VMOVUPS Z5, (DX)
	ADDQ    R8, DX
	VMOVUPS Z6, (DX)
	ADDQ    R8, DX
	VMOVUPS Z7, (DX)
	VZEROUPPER
	RET

// func kernel8x16Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16 with A's rows and steps from tables: row r, step p at a + rowOff[r] +
// colOff[p] floats (kernel6x16Table's eight-row twin).
TEXT ·kernel8x16Table(SB), NOSPLIT, $0-57
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ rowOff+16(FP), R11
	MOVQ 0(R11), SI
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
	MOVQ 48(R11), DX
	LEAQ (AX)(DX*4), DX
	MOVQ 56(R11), R8
	LEAQ (AX)(R8*4), R8
	MOVQ colOff+24(FP), R11
	MOVQ b+32(FP), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ CX, CX
	JE    tdone
tloop:
	MOVQ (R11), AX
	VMOVUPS (DI), Z8
	VFMADD231PS.BCST (SI)(AX*4), Z8, Z0
	VFMADD231PS.BCST (R9)(AX*4), Z8, Z1
	VFMADD231PS.BCST (R10)(AX*4), Z8, Z2
	VFMADD231PS.BCST (R12)(AX*4), Z8, Z3
	VFMADD231PS.BCST (R13)(AX*4), Z8, Z4
	VFMADD231PS.BCST (BX)(AX*4), Z8, Z5
	VFMADD231PS.BCST (DX)(AX*4), Z8, Z6
	VFMADD231PS.BCST (R8)(AX*4), Z8, Z7
	ADDQ $8, R11
	ADDQ $64, DI
	DECQ CX
	JNE  tloop
tdone:
	MOVQ    c+40(FP), DX
	MOVQ    ldc+48(FP), R8
	SHLQ    $2, R8
	MOVBLZX accumulate+56(FP), AX
	TESTL   AX, AX
	JE      tstore
	VADDPS  (DX), Z0, Z0
	ADDQ    R8, DX
	VADDPS  (DX), Z1, Z1
	ADDQ    R8, DX
	VADDPS  (DX), Z2, Z2
	ADDQ    R8, DX
	VADDPS  (DX), Z3, Z3
	ADDQ    R8, DX
	VADDPS  (DX), Z4, Z4
	ADDQ    R8, DX
	VADDPS  (DX), Z5, Z5
	ADDQ    R8, DX
	VADDPS  (DX), Z6, Z6
	ADDQ    R8, DX
	VADDPS  (DX), Z7, Z7
	MOVQ    c+40(FP), DX

tstore:
	VMOVUPS Z0, (DX)
	ADDQ    R8, DX
	VMOVUPS Z1, (DX)
	ADDQ    R8, DX
	VMOVUPS Z2, (DX)
	ADDQ    R8, DX
	VMOVUPS Z3, (DX)
	ADDQ    R8, DX
	VMOVUPS Z4, (DX)
	ADDQ    R8, DX
	VMOVUPS Z5, (DX)
	ADDQ    R8, DX
	VMOVUPS Z6, (DX)
	ADDQ    R8, DX
	VMOVUPS Z7, (DX)
	VZEROUPPER
	RET
