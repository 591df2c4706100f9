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

// RLOOP is SLOOP with the operands the other way round: dst = s OP a.
#define RLOOP(OP) \
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
	OP Y0, Y4, Y0 \
	OP Y1, Y4, Y1 \
	OP Y2, Y4, Y2 \
	OP Y3, Y4, Y3 \
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
	OP Y0, Y4, Y0 \
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

// func gatherRowsAsm(dst, src []float32, idx []int32, row int)
//
// dst[i*row : (i+1)*row] = src[idx[i]*row : (idx[i]+1)*row] for every i; row is a multiple
// of 8 and every index is in range (the caller checks both).
TEXT ·gatherRowsAsm(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ src+24(FP), SI
	MOVQ idx+48(FP), BX
	MOVQ idx_len+56(FP), CX
	MOVQ row+72(FP), R8
	MOVQ R8, R9
	SHLQ $2, R9 // row bytes
	SHRQ $3, R8 // 8-float blocks per row
	TESTQ CX, CX
	JZ    gdone
gnext:
	MOVLQSX (BX), AX
	IMULQ   R9, AX
	LEAQ    (SI)(AX*1), DX
	MOVQ    R8, R10
gcopy:
	VMOVUPS (DX), Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    R10
	JNZ     gcopy
	ADDQ    $4, BX
	DECQ    CX
	JNZ     gnext
gdone:
	VZEROUPPER
	RET

// func scatterAddRowsAsm(dst, upd []float32, idx []int32, row, lo, hi int)
//
// For every i in order with lo <= idx[i] < hi: dst[idx[i]*row ...] += upd[i*row ...], one
// IEEE addition per value as in a scalar loop; row is a multiple of 8.
TEXT ·scatterAddRowsAsm(SB), NOSPLIT, $0-96
	MOVQ dst+0(FP), DI
	MOVQ upd+24(FP), SI
	MOVQ idx+48(FP), BX
	MOVQ idx_len+56(FP), CX
	MOVQ row+72(FP), R8
	MOVQ lo+80(FP), R11
	MOVQ hi+88(FP), R12
	MOVQ R8, R9
	SHLQ $2, R9 // row bytes
	SHRQ $3, R8 // 8-float blocks per row
	TESTQ CX, CX
	JZ    sadone
sanext:
	MOVLQSX (BX), AX
	CMPQ    AX, R11
	JL      saskip
	CMPQ    AX, R12
	JGE     saskip
	IMULQ   R9, AX
	LEAQ    (DI)(AX*1), DX
	MOVQ    SI, R13
	MOVQ    R8, R10
saadd:
	VMOVUPS (DX), Y0
	VADDPS  (R13), Y0, Y0
	VMOVUPS Y0, (DX)
	ADDQ    $32, DX
	ADDQ    $32, R13
	DECQ    R10
	JNZ     saadd
saskip:
	ADDQ    R9, SI
	ADDQ    $4, BX
	DECQ    CX
	JNZ     sanext
sadone:
	VZEROUPPER
	RET

// func vrsubScalarAsm(dst, a []float32, s float32, n int): dst = s - a
TEXT ·vrsubScalarAsm(SB), NOSPLIT, $0-64
	RLOOP(VSUBPS)

// func vrdivScalarAsm(dst, a []float32, s float32, n int): dst = s / a
TEXT ·vrdivScalarAsm(SB), NOSPLIT, $0-64
	RLOOP(VDIVPS)

// func vminScalarAsm(dst, a []float32, s float32, n int): dst = Go's min(a, s), which the Go
// compiler makes on amd64 as the OR of the two MINPS orders: a value where they agree, the OR
// of both operands' bits where either is NaN.
TEXT ·vminScalarAsm(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	VBROADCASTSS s+48(FP), Y4
	MOVQ n+56(FP), CX
	SHRQ $3, CX
	JZ   mdone
mloop:
	VMOVUPS (SI), Y0
	VMINPS  Y0, Y4, Y1
	VMINPS  Y4, Y0, Y2
	VORPS   Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  mloop
mdone:
	VZEROUPPER
	RET

// func vabsAsm(dst, a []float32, n int): each value whose sign is to be flipped, the ones
// below zero, has its sign bit flipped; NaNs and -0 stay as they are (simplego's "if v < 0
// { -v } else { v }").
TEXT ·vabsAsm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $3, CX
	JZ   adone
	VPCMPEQD Y5, Y5, Y5
	VPSLLD   $31, Y5, Y5
	VXORPS   Y6, Y6, Y6
aloop:
	VMOVUPS (SI), Y0
	VCMPPS  $0x11, Y6, Y0, Y1
	VANDPS  Y5, Y1, Y1
	VXORPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  aloop
adone:
	VZEROUPPER
	RET

// func vaccRows32Asm(dst, x []float32, stride, rows int): dst[0:32] += x[r*stride : r*stride+32]
// for r = 0, 1, ..., rows-1 in turn, the 32 sums held in Y0-Y3 throughout; each element's
// additions happen in row order, as in a loop over the rows.
TEXT ·vaccRows32Asm(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ x+24(FP), SI
	MOVQ stride+48(FP), DX
	SHLQ $2, DX
	MOVQ rows+56(FP), CX
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	TESTQ CX, CX
	JZ    r32done
r32loop:
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ DX, SI
	DECQ CX
	JNZ  r32loop
r32done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

// func vaccRows8Asm(dst, x []float32, stride, rows int): vaccRows32Asm for 8 columns.
TEXT ·vaccRows8Asm(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ x+24(FP), SI
	MOVQ stride+48(FP), DX
	SHLQ $2, DX
	MOVQ rows+56(FP), CX
	VMOVUPS (DI), Y0
	TESTQ CX, CX
	JZ    r8done
r8loop:
	VADDPS (SI), Y0, Y0
	ADDQ DX, SI
	DECQ CX
	JNZ  r8loop
r8done:
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET
