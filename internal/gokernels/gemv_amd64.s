#include "textflag.h"
#include "flush_amd64.h"

// Products with one output column (a convolution to one channel and its kernel gradient),
// on AVX2 registers on every x86 CPU, so the bits do not depend on AVX-512. Both run in the
// micro-kernels' flush mode (flush_amd64.h).

// func gemvCols16Asm(k int, a *float32, colOff *int, b *float32, c *float32)
//
// c[0:16] = sum over p < k of a[colOff[p] : colOff[p]+16] * b[p]: sixteen rows of A that are
// neighbours in memory (a kernel gradient's input channels) times a contiguous column b.
// Each lane keeps two sums, of the even and of the odd p, added at the end (even + odd).
TEXT ·gemvCols16Asm(SB), NOSPLIT, $8-40
	FLUSH_ON
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ colOff+16(FP), R11
	MOVQ b+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ CX, BX
	SHRQ $1, BX
	JZ   cvtail
cvloop:
	MOVQ (R11), AX
	VBROADCASTSS (DI), Y4
	VFMADD231PS (SI)(AX*4), Y4, Y0
	VFMADD231PS 32(SI)(AX*4), Y4, Y2
	MOVQ 8(R11), AX
	VBROADCASTSS 4(DI), Y5
	VFMADD231PS (SI)(AX*4), Y5, Y1
	VFMADD231PS 32(SI)(AX*4), Y5, Y3
	ADDQ $16, R11
	ADDQ $8, DI
	DECQ BX
	JNZ  cvloop
cvtail:
	ANDQ $1, CX
	JZ   cvdone
	MOVQ (R11), AX
	VBROADCASTSS (DI), Y4
	VFMADD231PS (SI)(AX*4), Y4, Y0
	VFMADD231PS 32(SI)(AX*4), Y4, Y2
cvdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	MOVQ c+32(FP), DX
	VMOVUPS Y0, (DX)
	VMOVUPS Y2, 32(DX)
	FLUSH_OFF
	VZEROUPPER
	RET

// HSUM sets X(OUT)'s first lane to the sum of the sixteen lanes of LO and HI in a fixed tree:
// s8 = LO + HI, s4 = low half of s8 + high half, s2 = s4 + its upper pair, s2[0] + s2[1].
// LO and HI are overwritten; X6 is scratch.
#define HSUM(LO, HI, XLO, OUT) \
	VADDPS       HI, LO, LO \
	VEXTRACTF128 $1, LO, X6 \
	VADDPS       X6, XLO, XLO \
	VMOVHLPS     XLO, XLO, X6 \
	VADDPS       X6, XLO, XLO \
	VMOVSHDUP    XLO, X6 \
	VADDSS       X6, XLO, OUT

// func gemvRows16Asm(rows int, a *float32, rowOff *int, runs int, runOff *int, b *float32, c *float32)
//
// c[i] = sum over r < runs of a[rowOff[i]+runOff[r] : +16] . b[16r : 16r+16] for i < rows:
// rows of A read through offset tables whose columns come in runs of 16 neighbours (an
// implicit im2col's taps) times a contiguous column b. Each row's sixteen lanes sum the runs
// in order, then HSUM adds the lanes; two rows at a time, the last of an odd count twice
// (the second result not stored).
TEXT ·gemvRows16Asm(SB), NOSPLIT, $8-56
	FLUSH_ON
	MOVQ rows+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rowOff+16(FP), R8
	MOVQ c+48(FP), DX
grow:
	TESTQ CX, CX
	JZ    gdone
	MOVQ (R8), R9
	LEAQ (SI)(R9*4), R9
	MOVQ R9, R10
	CMPQ CX, $1
	JE   gpair
	MOVQ 8(R8), R10
	LEAQ (SI)(R10*4), R10
gpair:
	MOVQ runOff+32(FP), R11
	MOVQ b+40(FP), DI
	MOVQ runs+24(FP), BX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
grun:
	MOVQ (R11), AX
	VMOVUPS (DI), Y4
	VMOVUPS 32(DI), Y5
	VFMADD231PS (R9)(AX*4), Y4, Y0
	VFMADD231PS 32(R9)(AX*4), Y5, Y1
	VFMADD231PS (R10)(AX*4), Y4, Y2
	VFMADD231PS 32(R10)(AX*4), Y5, Y3
	ADDQ $8, R11
	ADDQ $64, DI
	DECQ BX
	JNZ  grun
	HSUM(Y0, Y1, X0, X0)
	HSUM(Y2, Y3, X2, X2)
	VMOVSS X0, (DX)
	CMPQ   CX, $1
	JE     gdone
	VMOVSS X2, 4(DX)
	ADDQ $16, R8
	ADDQ $8, DX
	SUBQ $2, CX
	JMP  grow
gdone:
	FLUSH_OFF
	VZEROUPPER
	RET
