#include "textflag.h"

// Go's max(x, y) on float32 vectors, bit for bit as the Go compiler lowers the builtin on
// amd64 (Max32F => -Min32F(-x, -y); Min32F x y => POR(MINSS(MINSS(x, y), x), MINSS(x, y)),
// cmd/compile's AMD64 rules), NaN payloads included, so that the result is simplego's. x in
// Y0, y in Y4, the sign mask in Y6; result in Y3.
#define GOMAX \
	VXORPS Y6, Y0, Y1 \
	VXORPS Y6, Y4, Y2 \
	VMINPS Y2, Y1, Y2 \
	VMINPS Y1, Y2, Y3 \
	VORPS  Y2, Y3, Y3 \
	VXORPS Y6, Y3, Y3

#define SIGNMASK \
	VPCMPEQD Y6, Y6, Y6 \
	VPSLLD   $31, Y6, Y6

// func vmaxAsm(dst, a, b []float32, n int): dst = max(a, b) for the first n - n%8 values.
TEXT ·vmaxAsm(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	MOVQ b+48(FP), DX
	MOVQ n+72(FP), CX
	SIGNMASK
	SHRQ $3, CX
	JZ   mdone
mloop:
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y4
	GOMAX
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     mloop
mdone:
	VZEROUPPER
	RET

// func vmaxScalarAsm(dst, a []float32, s float32, n int): dst = max(a, s) for the first
// n - n%8 values.
TEXT ·vmaxScalarAsm(SB), NOSPLIT, $0-64
	MOVQ         dst+0(FP), DI
	MOVQ         a+24(FP), SI
	VBROADCASTSS s+48(FP), Y4
	MOVQ         n+56(FP), CX
	SIGNMASK
	SHRQ         $3, CX
	JZ           sdone
sloop:
	VMOVUPS (SI), Y0
	GOMAX
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     sloop
sdone:
	VZEROUPPER
	RET
