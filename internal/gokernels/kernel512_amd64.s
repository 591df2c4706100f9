#include "textflag.h"
#include "flush_amd64.h"

// The AVX-512 micro-kernels. Each keeps its tile of C in zmm accumulators, one per row and
// 16-column panel, and runs every output element as the same chain of FMAs in p order as the
// AVX2 6x16 kernels (kernel_amd64.s), then adds C to the chain's sum the same way, so both
// give the same bits; only the tiling of C differs (tile.go).
//
// Register use: the accumulators from Z0 up; B's rows in Z16 (and Z17 for a second panel);
// the broadcasts of A in Z18 and Z19 where one feeds two FMAs. At the end DX walks C's rows
// (R8: the row stride in bytes).

// ZERO8 and ZERO16 clear the accumulators; ADD_RxC adds the R x C tile of C at DX to them,
// STORE_RxC writes them there.
#define ZERO8 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7

#define ZERO16 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3 \
	VPXORD Z4, Z4, Z4 \
	VPXORD Z5, Z5, Z5 \
	VPXORD Z6, Z6, Z6 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15

#define ADD_8x16 \
	VADDPS  (DX), Z0, Z0 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z1, Z1 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z2, Z2 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z3, Z3 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z4, Z4 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z5, Z5 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z6, Z6 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z7, Z7

#define STORE_8x16 \
	VMOVUPS Z0, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z1, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z2, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z3, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z4, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z5, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z6, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z7, (DX)

#define ADD_8x32 \
	VADDPS  (DX), Z0, Z0 \
	VADDPS  64(DX), Z1, Z1 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z2, Z2 \
	VADDPS  64(DX), Z3, Z3 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z4, Z4 \
	VADDPS  64(DX), Z5, Z5 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z6, Z6 \
	VADDPS  64(DX), Z7, Z7 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z8, Z8 \
	VADDPS  64(DX), Z9, Z9 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z10, Z10 \
	VADDPS  64(DX), Z11, Z11 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z12, Z12 \
	VADDPS  64(DX), Z13, Z13 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z14, Z14 \
	VADDPS  64(DX), Z15, Z15

#define STORE_8x32 \
	VMOVUPS Z0, (DX) \
	VMOVUPS Z1, 64(DX) \
	ADDQ    R8, DX \
	VMOVUPS Z2, (DX) \
	VMOVUPS Z3, 64(DX) \
	ADDQ    R8, DX \
	VMOVUPS Z4, (DX) \
	VMOVUPS Z5, 64(DX) \
	ADDQ    R8, DX \
	VMOVUPS Z6, (DX) \
	VMOVUPS Z7, 64(DX) \
	ADDQ    R8, DX \
	VMOVUPS Z8, (DX) \
	VMOVUPS Z9, 64(DX) \
	ADDQ    R8, DX \
	VMOVUPS Z10, (DX) \
	VMOVUPS Z11, 64(DX) \
	ADDQ    R8, DX \
	VMOVUPS Z12, (DX) \
	VMOVUPS Z13, 64(DX) \
	ADDQ    R8, DX \
	VMOVUPS Z14, (DX) \
	VMOVUPS Z15, 64(DX)

#define ADD_8x16_HI \
	VADDPS  (DX), Z8, Z8 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z9, Z9 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z10, Z10 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z11, Z11 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z12, Z12 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z13, Z13 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z14, Z14 \
	ADDQ    R8, DX \
	VADDPS  (DX), Z15, Z15

#define STORE_8x16_HI \
	VMOVUPS Z8, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z9, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z10, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z11, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z12, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z13, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z14, (DX) \
	ADDQ    R8, DX \
	VMOVUPS Z15, (DX)

#define ADD_16x16 ADD_8x16; ADDQ R8, DX; ADD_8x16_HI

#define STORE_16x16 STORE_8x16; ADDQ R8, DX; STORE_8x16_HI

// The steps p of the kernels, by how A is read: PACKED from a packed panel at a(SI); ROWS in
// place, rows 0-2 at a(SI) + 0, 1, 2 times the row stride R10, rows 3-5 the same from BX,
// rows 6-7 from R12; TABLE at row pointer r plus the step's column offset AX. The ...2
// variants cover two panels (B's second at R15), each broadcast feeding two FMAs.
#define ZPACKED_STEP(a, b) \
	VMOVUPS b(DI), Z16 \
	VFMADD231PS.BCST a(SI), Z16, Z0 \
	VFMADD231PS.BCST a+4(SI), Z16, Z1 \
	VFMADD231PS.BCST a+8(SI), Z16, Z2 \
	VFMADD231PS.BCST a+12(SI), Z16, Z3 \
	VFMADD231PS.BCST a+16(SI), Z16, Z4 \
	VFMADD231PS.BCST a+20(SI), Z16, Z5 \
	VFMADD231PS.BCST a+24(SI), Z16, Z6 \
	VFMADD231PS.BCST a+28(SI), Z16, Z7

#define ZROWS_STEP(a, b) \
	VMOVUPS b(DI), Z16 \
	VFMADD231PS.BCST a(SI), Z16, Z0 \
	VFMADD231PS.BCST a(SI)(R10*1), Z16, Z1 \
	VFMADD231PS.BCST a(SI)(R10*2), Z16, Z2 \
	VFMADD231PS.BCST a(BX), Z16, Z3 \
	VFMADD231PS.BCST a(BX)(R10*1), Z16, Z4 \
	VFMADD231PS.BCST a(BX)(R10*2), Z16, Z5 \
	VFMADD231PS.BCST a(R12), Z16, Z6 \
	VFMADD231PS.BCST a(R12)(R10*1), Z16, Z7

#define ZTABLE_STEP \
	VMOVUPS (DI), Z16 \
	VFMADD231PS.BCST (SI)(AX*4), Z16, Z0 \
	VFMADD231PS.BCST (R9)(AX*4), Z16, Z1 \
	VFMADD231PS.BCST (R10)(AX*4), Z16, Z2 \
	VFMADD231PS.BCST (R12)(AX*4), Z16, Z3 \
	VFMADD231PS.BCST (R13)(AX*4), Z16, Z4 \
	VFMADD231PS.BCST (BX)(AX*4), Z16, Z5 \
	VFMADD231PS.BCST (DX)(AX*4), Z16, Z6 \
	VFMADD231PS.BCST (R8)(AX*4), Z16, Z7

#define ZPACKED2_STEP(a, b) \
	VMOVUPS b(DI), Z16 \
	VMOVUPS b(R15), Z17 \
	VBROADCASTSS a(SI), Z18 \
	VFMADD231PS Z16, Z18, Z0 \
	VFMADD231PS Z17, Z18, Z1 \
	VBROADCASTSS a+4(SI), Z19 \
	VFMADD231PS Z16, Z19, Z2 \
	VFMADD231PS Z17, Z19, Z3 \
	VBROADCASTSS a+8(SI), Z18 \
	VFMADD231PS Z16, Z18, Z4 \
	VFMADD231PS Z17, Z18, Z5 \
	VBROADCASTSS a+12(SI), Z19 \
	VFMADD231PS Z16, Z19, Z6 \
	VFMADD231PS Z17, Z19, Z7 \
	VBROADCASTSS a+16(SI), Z18 \
	VFMADD231PS Z16, Z18, Z8 \
	VFMADD231PS Z17, Z18, Z9 \
	VBROADCASTSS a+20(SI), Z19 \
	VFMADD231PS Z16, Z19, Z10 \
	VFMADD231PS Z17, Z19, Z11 \
	VBROADCASTSS a+24(SI), Z18 \
	VFMADD231PS Z16, Z18, Z12 \
	VFMADD231PS Z17, Z18, Z13 \
	VBROADCASTSS a+28(SI), Z19 \
	VFMADD231PS Z16, Z19, Z14 \
	VFMADD231PS Z17, Z19, Z15

#define ZROWS2_STEP(a, b) \
	VMOVUPS b(DI), Z16 \
	VMOVUPS b(R15), Z17 \
	VBROADCASTSS a(SI), Z18 \
	VFMADD231PS Z16, Z18, Z0 \
	VFMADD231PS Z17, Z18, Z1 \
	VBROADCASTSS a(SI)(R10*1), Z19 \
	VFMADD231PS Z16, Z19, Z2 \
	VFMADD231PS Z17, Z19, Z3 \
	VBROADCASTSS a(SI)(R10*2), Z18 \
	VFMADD231PS Z16, Z18, Z4 \
	VFMADD231PS Z17, Z18, Z5 \
	VBROADCASTSS a(BX), Z19 \
	VFMADD231PS Z16, Z19, Z6 \
	VFMADD231PS Z17, Z19, Z7 \
	VBROADCASTSS a(BX)(R10*1), Z18 \
	VFMADD231PS Z16, Z18, Z8 \
	VFMADD231PS Z17, Z18, Z9 \
	VBROADCASTSS a(BX)(R10*2), Z19 \
	VFMADD231PS Z16, Z19, Z10 \
	VFMADD231PS Z17, Z19, Z11 \
	VBROADCASTSS a(R12), Z18 \
	VFMADD231PS Z16, Z18, Z12 \
	VFMADD231PS Z17, Z18, Z13 \
	VBROADCASTSS a(R12)(R10*1), Z19 \
	VFMADD231PS Z16, Z19, Z14 \
	VFMADD231PS Z17, Z19, Z15

#define ZTABLE2_STEP \
	VMOVUPS (DI), Z16 \
	VMOVUPS (R15), Z17 \
	VBROADCASTSS (SI)(AX*4), Z18 \
	VFMADD231PS Z16, Z18, Z0 \
	VFMADD231PS Z17, Z18, Z1 \
	VBROADCASTSS (R9)(AX*4), Z19 \
	VFMADD231PS Z16, Z19, Z2 \
	VFMADD231PS Z17, Z19, Z3 \
	VBROADCASTSS (R10)(AX*4), Z18 \
	VFMADD231PS Z16, Z18, Z4 \
	VFMADD231PS Z17, Z18, Z5 \
	VBROADCASTSS (R12)(AX*4), Z19 \
	VFMADD231PS Z16, Z19, Z6 \
	VFMADD231PS Z17, Z19, Z7 \
	VBROADCASTSS (R13)(AX*4), Z18 \
	VFMADD231PS Z16, Z18, Z8 \
	VFMADD231PS Z17, Z18, Z9 \
	VBROADCASTSS (BX)(AX*4), Z19 \
	VFMADD231PS Z16, Z19, Z10 \
	VFMADD231PS Z17, Z19, Z11 \
	VBROADCASTSS (DX)(AX*4), Z18 \
	VFMADD231PS Z16, Z18, Z12 \
	VFMADD231PS Z17, Z18, Z13 \
	VBROADCASTSS (R8)(AX*4), Z19 \
	VFMADD231PS Z16, Z19, Z14 \
	VFMADD231PS Z17, Z19, Z15

// The kernels' arguments, by how A is read: ARGS_PACKED, ARGS_ROWS (and row pointers BX for
// row 3, R12 for row 6), ARGS_DIRECT (the same and the step stride R11) and ARGS_TABLE (the
// eight row pointers from rowOff, R11 at colOff); SECOND_PANEL points R15 at B's second
// panel.
#define ARGS_PACKED \
	MOVQ k+0(FP), CX \
	MOVQ a+8(FP), SI \
	MOVQ b+16(FP), DI \
	MOVQ c+24(FP), DX \
	MOVQ ldc+32(FP), R8 \
	SHLQ $2, R8

#define ARGS_ROWS \
	MOVQ k+0(FP), CX \
	MOVQ a+8(FP), SI \
	MOVQ rowStride+16(FP), R10 \
	SHLQ $2, R10 \
	MOVQ b+24(FP), DI \
	MOVQ c+32(FP), DX \
	MOVQ ldc+40(FP), R8 \
	SHLQ $2, R8 \
	LEAQ (R10)(R10*2), BX \
	ADDQ SI, BX \
	LEAQ (BX)(R10*2), R12 \
	ADDQ R10, R12

#define ARGS_DIRECT \
	MOVQ k+0(FP), CX \
	MOVQ a+8(FP), SI \
	MOVQ rowStride+16(FP), R10 \
	SHLQ $2, R10 \
	MOVQ kStride+24(FP), R11 \
	SHLQ $2, R11 \
	MOVQ b+32(FP), DI \
	MOVQ c+40(FP), DX \
	MOVQ ldc+48(FP), R8 \
	SHLQ $2, R8 \
	LEAQ (R10)(R10*2), BX \
	ADDQ SI, BX \
	LEAQ (BX)(R10*2), R12 \
	ADDQ R10, R12

#define ARGS_TABLE \
	MOVQ k+0(FP), CX \
	MOVQ a+8(FP), AX \
	MOVQ rowOff+16(FP), R11 \
	MOVQ 0(R11), SI \
	LEAQ (AX)(SI*4), SI \
	MOVQ 8(R11), R9 \
	LEAQ (AX)(R9*4), R9 \
	MOVQ 16(R11), R10 \
	LEAQ (AX)(R10*4), R10 \
	MOVQ 24(R11), R12 \
	LEAQ (AX)(R12*4), R12 \
	MOVQ 32(R11), R13 \
	LEAQ (AX)(R13*4), R13 \
	MOVQ 40(R11), BX \
	LEAQ (AX)(BX*4), BX \
	MOVQ 48(R11), DX \
	LEAQ (AX)(DX*4), DX \
	MOVQ 56(R11), R8 \
	LEAQ (AX)(R8*4), R8 \
	MOVQ colOff+24(FP), R11 \
	MOVQ b+32(FP), DI

#define SECOND_PANEL \
	MOVQ CX, R15 \
	SHLQ $6, R15 \
	ADDQ DI, R15

// func kernel8x16(k int, a, b, c *float32, ldc int, accumulate bool)
//
// C[0:8, 0:16] (row stride ldc floats) = or += sum over p < k of a[8p:8p+8] (outer)
// b[16p:16p+16], a and b packed panels; unrolled four steps deep as kernel6x16 is.
TEXT ·kernel8x16(SB), NOSPLIT, $8-41
	FLUSH_ON
	ARGS_PACKED
	ZERO8
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
	ADD_8x16
	MOVQ    c+24(FP), DX
pstore:
	STORE_8x16
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel8x16Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16 with A's contiguous rows read in place: row r, step p at a + r*rowStride + p
// floats (kernel6x16Rows' eight-row twin), unrolled four steps deep.
TEXT ·kernel8x16Rows(SB), NOSPLIT, $8-49
	FLUSH_ON
	ARGS_ROWS
	ZERO8
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
	ADD_8x16
	MOVQ    c+32(FP), DX
rstore:
	STORE_8x16
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel8x16Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16 with A read in place: row r, step p at a + r*rowStride + p*kStride floats.
TEXT ·kernel8x16Direct(SB), NOSPLIT, $8-57
	FLUSH_ON
	ARGS_DIRECT
	ZERO8
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
	ADD_8x16
	MOVQ    c+40(FP), DX
dstore:
	STORE_8x16
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel8x16Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16 with A's rows and steps from tables: row r, step p at a + rowOff[r] +
// colOff[p] floats (kernel6x16Table's eight-row twin).
TEXT ·kernel8x16Table(SB), NOSPLIT, $8-57
	FLUSH_ON
	ARGS_TABLE
	ZERO8
	TESTQ CX, CX
	JE    tdone
tloop:
	MOVQ (R11), AX
	ZTABLE_STEP
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
	ADD_8x16
	MOVQ    c+40(FP), DX
tstore:
	STORE_8x16
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel8x32(k int, a, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16 over two adjacent packed panels of B (b, then b + 16k floats) into C[0:8, 0:32].
TEXT ·kernel8x32(SB), NOSPLIT, $8-41
	FLUSH_ON
	ARGS_PACKED
	SECOND_PANEL
	ZERO16
	TESTQ CX, CX
	JE    qdone
qloop:
	ZPACKED2_STEP(0, 0)
	ADDQ $32, SI
	ADDQ $64, DI
	ADDQ $64, R15
	DECQ CX
	JNE  qloop
qdone:
	MOVBLZX accumulate+40(FP), AX
	TESTL   AX, AX
	JE      qstore
	ADD_8x32
	MOVQ    c+24(FP), DX
qstore:
	STORE_8x32
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel8x32Rows(k int, a *float32, rowStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16Rows over two adjacent panels of B.
TEXT ·kernel8x32Rows(SB), NOSPLIT, $8-49
	FLUSH_ON
	ARGS_ROWS
	SECOND_PANEL
	ZERO16
	TESTQ CX, CX
	JE    sdone
sloop:
	ZROWS2_STEP(0, 0)
	ADDQ $4, SI
	ADDQ $4, BX
	ADDQ $4, R12
	ADDQ $64, DI
	ADDQ $64, R15
	DECQ CX
	JNE  sloop
sdone:
	MOVBLZX accumulate+48(FP), AX
	TESTL   AX, AX
	JE      sstore
	ADD_8x32
	MOVQ    c+32(FP), DX
sstore:
	STORE_8x32
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel8x32Direct(k int, a *float32, rowStride, kStride int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16Direct over two adjacent panels of B.
TEXT ·kernel8x32Direct(SB), NOSPLIT, $8-57
	FLUSH_ON
	ARGS_DIRECT
	SECOND_PANEL
	ZERO16
	TESTQ CX, CX
	JE    edone
eloop:
	ZROWS2_STEP(0, 0)
	ADDQ R11, SI
	ADDQ R11, BX
	ADDQ R11, R12
	ADDQ $64, DI
	ADDQ $64, R15
	DECQ CX
	JNE  eloop
edone:
	MOVBLZX accumulate+56(FP), AX
	TESTL   AX, AX
	JE      estore
	ADD_8x32
	MOVQ    c+40(FP), DX
estore:
	STORE_8x32
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel8x32Table(k int, a *float32, rowOff, colOff *int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16Table over two adjacent panels of B.
TEXT ·kernel8x32Table(SB), NOSPLIT, $8-57
	FLUSH_ON
	ARGS_TABLE
	SECOND_PANEL
	ZERO16
	TESTQ CX, CX
	JE    udone
uloop:
	MOVQ (R11), AX
	ZTABLE2_STEP
	ADDQ $8, R11
	ADDQ $64, DI
	ADDQ $64, R15
	DECQ CX
	JNE  uloop
udone:
	MOVQ    c+40(FP), DX
	MOVQ    ldc+48(FP), R8
	SHLQ    $2, R8
	MOVBLZX accumulate+56(FP), AX
	TESTL   AX, AX
	JE      ustore
	ADD_8x32
	MOVQ    c+40(FP), DX
ustore:
	STORE_8x32
	FLUSH_OFF
	VZEROUPPER
	RET

// func kernel16x16Prog(k int, a *float32, rowStride int, colOff *int, b, c *float32, ldc int, accumulate bool)
//
// kernel8x16Table for 16 rows that are an arithmetic progression: row r, step p at a +
// r*rowStride + colOff[p] floats (the rows of an implicit im2col operand within one image
// row, a kernel gradient's input channels). Sixteen accumulators (Z0-Z15) share each load of
// B (Z16). Each step the rows' addresses come from five pointers, T = a + colOff[p] and T
// plus 3, 6, 9 and 12 rows, each with the row stride (R10) times 1, 2, 4 or 8 or three rows
// (R9) as index.
TEXT ·kernel16x16Prog(SB), NOSPLIT, $8-57
	FLUSH_ON
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rowStride+16(FP), R10
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R9
	MOVQ colOff+24(FP), R11
	MOVQ b+32(FP), DI
	ZERO16
	TESTQ CX, CX
	JE    gdone
gloop:
	MOVQ (R11), AX
	LEAQ (SI)(AX*4), BX
	LEAQ (BX)(R9*1), R12
	LEAQ (BX)(R9*2), R13
	LEAQ (R12)(R9*2), DX
	LEAQ (BX)(R9*4), R8
	VMOVUPS (DI), Z16
	VFMADD231PS.BCST (BX), Z16, Z0
	VFMADD231PS.BCST (BX)(R10*1), Z16, Z1
	VFMADD231PS.BCST (BX)(R10*2), Z16, Z2
	VFMADD231PS.BCST (R12), Z16, Z3
	VFMADD231PS.BCST (BX)(R10*4), Z16, Z4
	VFMADD231PS.BCST (R12)(R10*2), Z16, Z5
	VFMADD231PS.BCST (R13), Z16, Z6
	VFMADD231PS.BCST (R12)(R10*4), Z16, Z7
	VFMADD231PS.BCST (BX)(R10*8), Z16, Z8
	VFMADD231PS.BCST (DX), Z16, Z9
	VFMADD231PS.BCST (R13)(R10*4), Z16, Z10
	VFMADD231PS.BCST (R12)(R10*8), Z16, Z11
	VFMADD231PS.BCST (R8), Z16, Z12
	VFMADD231PS.BCST (DX)(R10*4), Z16, Z13
	VFMADD231PS.BCST (R13)(R10*8), Z16, Z14
	VFMADD231PS.BCST (R8)(R9*1), Z16, Z15
	ADDQ $8, R11
	ADDQ $64, DI
	DECQ CX
	JNE  gloop
gdone:
	MOVQ    c+40(FP), DX
	MOVQ    ldc+48(FP), R8
	SHLQ    $2, R8
	MOVBLZX accumulate+56(FP), AX
	TESTL   AX, AX
	JE      gstore
	ADD_16x16
	MOVQ    c+40(FP), DX
gstore:
	STORE_16x16
	FLUSH_OFF
	VZEROUPPER
	RET
