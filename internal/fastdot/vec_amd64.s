#include "textflag.h"

// Element-wise float32 loops, 32 values per iteration then 8 at a time; the caller handles
// the last n % 8 values. Each value is one IEEE operation, as in a scalar loop, so the
// results are the same bits.

#define VLOOP(OP) \
	MOVQ dst+0(FP), DI \
	MOVQ a+24(FP), SI \
	MOVQ b+48(FP), DX \
	MOVQ n+72(FP), CX \
	SHRQ $3, CX \
	JZ   done \
big: \
	CMPQ CX, $4 \
	JL   small \
	VMOVUPS (SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VMOVUPS 64(SI), Y2 \
	VMOVUPS 96(SI), Y3 \
	OP (DX), Y0, Y0 \
	OP 32(DX), Y1, Y1 \
	OP 64(DX), Y2, Y2 \
	OP 96(DX), Y3, Y3 \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	VMOVUPS Y2, 64(DI) \
	VMOVUPS Y3, 96(DI) \
	ADDQ $128, SI \
	ADDQ $128, DX \
	ADDQ $128, DI \
	SUBQ $4, CX \
	JMP  big \
small: \
	TESTQ CX, CX \
	JZ    done \
	VMOVUPS (SI), Y0 \
	OP (DX), Y0, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $32, DI \
	DECQ CX \
	JMP  small \
done: \
	VZEROUPPER \
	RET

#define SLOOP(OP) \
	MOVQ dst+0(FP), DI \
	MOVQ a+24(FP), SI \
	VBROADCASTSS s+48(FP), Y4 \
	MOVQ n+56(FP), CX \
	SHRQ $3, CX \
	JZ   sdone \
sbig: \
	CMPQ CX, $4 \
	JL   ssmall \
	VMOVUPS (SI), Y0 \
	VMOVUPS 32(SI), Y1 \
	VMOVUPS 64(SI), Y2 \
	VMOVUPS 96(SI), Y3 \
	OP Y4, Y0, Y0 \
	OP Y4, Y1, Y1 \
	OP Y4, Y2, Y2 \
	OP Y4, Y3, Y3 \
	VMOVUPS Y0, (DI) \
	VMOVUPS Y1, 32(DI) \
	VMOVUPS Y2, 64(DI) \
	VMOVUPS Y3, 96(DI) \
	ADDQ $128, SI \
	ADDQ $128, DI \
	SUBQ $4, CX \
	JMP  sbig \
ssmall: \
	TESTQ CX, CX \
	JZ    sdone \
	VMOVUPS (SI), Y0 \
	OP Y4, Y0, Y0 \
	VMOVUPS Y0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DI \
	DECQ CX \
	JMP  ssmall \
sdone: \
	VZEROUPPER \
	RET

// func vmulAsm(dst, a, b []float32, n int)
TEXT ·vmulAsm(SB), NOSPLIT, $0-80
	VLOOP(VMULPS)

// func vaddAsm(dst, a, b []float32, n int)
TEXT ·vaddAsm(SB), NOSPLIT, $0-80
	VLOOP(VADDPS)

// func vsubAsm(dst, a, b []float32, n int): dst = a - b
TEXT ·vsubAsm(SB), NOSPLIT, $0-80
	VLOOP(VSUBPS)

// func vdivAsm(dst, a, b []float32, n int): dst = a / b
TEXT ·vdivAsm(SB), NOSPLIT, $0-80
	VLOOP(VDIVPS)

// func vmulScalarAsm(dst, a []float32, s float32, n int): dst = a * s
TEXT ·vmulScalarAsm(SB), NOSPLIT, $0-64
	SLOOP(VMULPS)

// func vaddScalarAsm(dst, a []float32, s float32, n int): dst = a + s
TEXT ·vaddScalarAsm(SB), NOSPLIT, $0-64
	SLOOP(VADDPS)

// func vsubScalarAsm(dst, a []float32, s float32, n int): dst = a - s
TEXT ·vsubScalarAsm(SB), NOSPLIT, $0-64
	SLOOP(VSUBPS)

// func vdivScalarAsm(dst, a []float32, s float32, n int): dst = a / s
TEXT ·vdivScalarAsm(SB), NOSPLIT, $0-64
	SLOOP(VDIVPS)

// func vsqrtAsm(dst, a []float32, n int): dst = sqrt(a), correctly rounded like
// float32(math.Sqrt(float64(a))).
TEXT ·vsqrtAsm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $3, CX
	JZ   qdone
qloop:
	VSQRTPS (SI), Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     qloop
qdone:
	VZEROUPPER
	RET
