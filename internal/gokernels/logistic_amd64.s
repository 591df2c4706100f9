#include "textflag.h"

// vlogisticAsm computes float32(1/(1+exp(-x))) for x >= 0 and float32(e/(1+e)), e = exp(x),
// for x < 0, eight values per iteration in two halves of four float64 lanes. The exponential
// is the Go runtime's own (math/exp_amd64.s, its FMA path) step for step: the same
// argument reduction, the same Taylor polynomial with the same fused multiply-adds in the
// same order, the same squaring and scaling by 2^k, so every value is the bits that
// simplego's float64 math.Exp loop gives. The argument -|x| is clamped at -120: below it
// both formulas round to exactly 1 or 0 in float32 whatever tiny exp they use, and the
// clamp keeps every lane on the runtime's normal (not denormal, not underflow) path. NaN
// lanes are set to the input with its quiet bit, as the float64 round trip makes them.

DATA logisticdata<>+0(SB)/8, $0.5
DATA logisticdata<>+8(SB)/8, $1.0
DATA logisticdata<>+16(SB)/8, $2.0
DATA logisticdata<>+24(SB)/8, $1.6666666666666666667e-1
DATA logisticdata<>+32(SB)/8, $4.1666666666666666667e-2
DATA logisticdata<>+40(SB)/8, $8.3333333333333333333e-3
DATA logisticdata<>+48(SB)/8, $1.3888888888888888889e-3
DATA logisticdata<>+56(SB)/8, $1.9841269841269841270e-4
DATA logisticdata<>+64(SB)/8, $2.4801587301587301587e-5
DATA logisticdata<>+72(SB)/8, $1.4426950408889634073599246810018920     // log2(e)
DATA logisticdata<>+80(SB)/8, $0.69314718055966295651160180568695068359375 // ln 2, upper part
DATA logisticdata<>+88(SB)/8, $0.28235290563031577122588448175013436025525412068e-12 // ln 2, lower part
DATA logisticdata<>+96(SB)/8, $0.0625
DATA logisticdata<>+104(SB)/8, $-120.0
DATA logisticdata<>+112(SB)/8, $0x8000000000000000 // float64 sign bit
DATA logisticdata<>+120(SB)/4, $1023
DATA logisticdata<>+124(SB)/4, $0x00400000          // float32 quiet-NaN bit
GLOBL logisticdata<>+0(SB), RODATA|NOPTR, $128

// HALF computes four sigmoids, the float32 values in IN to float32 results in OUT, with Y0-Y6
// as scratch and the constants in Y8-Y15 (1, the sign bit, -120, log2 e, ln 2 upper and
// lower, 1/16, 2). In order: x to float64; a = max(-|x|, -120); k = round(a log2 e) as
// int32; a -= k ln2u and a -= k ln2l (fused); r = a/16; p = the Taylor polynomial by
// fused multiply-adds from 1/8! down to 1; r *= p; r *= r + 2 three times, then
// r = (r + 2) r + 1 (fused); e = r * 2^k from the bits (k + 1023) << 52; the quotient of
// e (x < 0) or 1 (x >= 0, -0 included) by 1 + e; rounded to float32.
#define HALF(IN, OUT) \
	VCVTPS2PD IN, Y0 \
	VORPD     Y9, Y0, Y1 \
	VMAXPD    Y10, Y1, Y1 \
	VMULPD    Y11, Y1, Y2 \
	VCVTPD2DQY Y2, X3 \
	VCVTDQ2PD X3, Y2 \
	VFNMADD231PD Y12, Y2, Y1 \
	VFNMADD231PD Y13, Y2, Y1 \
	VMULPD    Y14, Y1, Y1 \
	VBROADCASTSD logisticdata<>+64(SB), Y4 \
	VBROADCASTSD logisticdata<>+56(SB), Y5 \
	VFMADD213PD Y5, Y1, Y4 \
	VBROADCASTSD logisticdata<>+48(SB), Y5 \
	VFMADD213PD Y5, Y1, Y4 \
	VBROADCASTSD logisticdata<>+40(SB), Y5 \
	VFMADD213PD Y5, Y1, Y4 \
	VBROADCASTSD logisticdata<>+32(SB), Y5 \
	VFMADD213PD Y5, Y1, Y4 \
	VBROADCASTSD logisticdata<>+24(SB), Y5 \
	VFMADD213PD Y5, Y1, Y4 \
	VBROADCASTSD logisticdata<>+0(SB), Y5 \
	VFMADD213PD Y5, Y1, Y4 \
	VFMADD213PD Y8, Y1, Y4 \
	VMULPD    Y4, Y1, Y1 \
	VADDPD    Y15, Y1, Y4 \
	VMULPD    Y4, Y1, Y1 \
	VADDPD    Y15, Y1, Y4 \
	VMULPD    Y4, Y1, Y1 \
	VADDPD    Y15, Y1, Y4 \
	VMULPD    Y4, Y1, Y1 \
	VADDPD    Y15, Y1, Y4 \
	VFMADD213PD Y8, Y4, Y1 \
	VPBROADCASTD logisticdata<>+120(SB), X5 \
	VPADDD    X5, X3, X3 \
	VPMOVZXDQ X3, Y3 \
	VPSLLQ    $52, Y3, Y3 \
	VMULPD    Y3, Y1, Y1 \
	VADDPD    Y8, Y1, Y2 \
	VXORPD    Y4, Y4, Y4 \
	VCMPPD    $0x11, Y4, Y0, Y5 \
	VBLENDVPD Y5, Y1, Y8, Y6 \
	VDIVPD    Y2, Y6, Y6 \
	VCVTPD2PSY Y6, OUT

// NANFIX sets the lanes of OUT whose input in IN is NaN to that input with its quiet bit,
// as the float64 round trip makes them; it reads the input from IN, not from memory, so that
// dst may be the source. X0 and X1 are scratch.
#define NANFIX(IN, OUT) \
	VCMPPS       $3, IN, IN, X0 \
	VPBROADCASTD logisticdata<>+124(SB), X1 \
	VORPS        X1, IN, X1 \
	VBLENDVPS    X0, X1, OUT, OUT

// func vlogisticAsm(dst, a []float32, n int)
TEXT ·vlogisticAsm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $3, CX
	JZ   ldone
	VBROADCASTSD logisticdata<>+8(SB), Y8
	VBROADCASTSD logisticdata<>+112(SB), Y9
	VBROADCASTSD logisticdata<>+104(SB), Y10
	VBROADCASTSD logisticdata<>+72(SB), Y11
	VBROADCASTSD logisticdata<>+80(SB), Y12
	VBROADCASTSD logisticdata<>+88(SB), Y13
	VBROADCASTSD logisticdata<>+96(SB), Y14
	VBROADCASTSD logisticdata<>+16(SB), Y15
lloop:
	VMOVUPS (SI), X7
	HALF(X7, X6)
	NANFIX(X7, X6)
	VMOVUPS X6, (DI)
	VMOVUPS 16(SI), X7
	HALF(X7, X6)
	NANFIX(X7, X6)
	VMOVUPS X6, 16(DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  lloop
ldone:
	VZEROUPPER
	RET

// vlogistic512Asm is vlogisticAsm (logistic_amd64.s) on ZMM registers: sixteen values per
// iteration in two halves of eight float64 lanes, every lane through the same instructions in
// the same order (the Go runtime's exp, its FMA path, then the same division and rounding),
// so the bits are vlogisticAsm's and simplego's. It uses the constants of logistic_amd64.s
// (above), all held in registers. It processes the first n - n%16 values.

// HALF512 computes eight sigmoids, float32 values in the YMM register IN to float32 results
// in the YMM register OUT, with Z0-Z6 as scratch; see HALF in logistic_amd64.s for the steps.
// Constants: Z8 1, Z9 the sign bit, Z10 -120, Z11 log2 e, Z12 ln 2 upper, Z13 ln 2 lower,
// Z14 1/16, Z15 2, Z16-Z22 the Taylor coefficients 1/8! .. 1/3!, 1/2, Y23 1023 as int32.
#define HALF512(IN, OUT) \
	VCVTPS2PD IN, Z0 \
	VPORQ     Z9, Z0, Z1 \
	VMAXPD    Z10, Z1, Z1 \
	VMULPD    Z11, Z1, Z2 \
	VCVTPD2DQ Z2, Y3 \
	VCVTDQ2PD Y3, Z2 \
	VFNMADD231PD Z12, Z2, Z1 \
	VFNMADD231PD Z13, Z2, Z1 \
	VMULPD    Z14, Z1, Z1 \
	VMOVAPD   Z16, Z4 \
	VFMADD213PD Z17, Z1, Z4 \
	VFMADD213PD Z18, Z1, Z4 \
	VFMADD213PD Z19, Z1, Z4 \
	VFMADD213PD Z20, Z1, Z4 \
	VFMADD213PD Z21, Z1, Z4 \
	VFMADD213PD Z22, Z1, Z4 \
	VFMADD213PD Z8, Z1, Z4 \
	VMULPD    Z4, Z1, Z1 \
	VADDPD    Z15, Z1, Z4 \
	VMULPD    Z4, Z1, Z1 \
	VADDPD    Z15, Z1, Z4 \
	VMULPD    Z4, Z1, Z1 \
	VADDPD    Z15, Z1, Z4 \
	VMULPD    Z4, Z1, Z1 \
	VADDPD    Z15, Z1, Z4 \
	VFMADD213PD Z8, Z4, Z1 \
	VPADDD    Y23, Y3, Y3 \
	VPMOVZXDQ Y3, Z3 \
	VPSLLQ    $52, Z3, Z3 \
	VMULPD    Z3, Z1, Z1 \
	VADDPD    Z8, Z1, Z2 \
	VPXORQ    Z4, Z4, Z4 \
	VCMPPD    $0x11, Z4, Z0, K1 \
	VBLENDMPD Z1, Z8, K1, Z6 \
	VDIVPD    Z2, Z6, Z6 \
	VCVTPD2PS Z6, OUT

// func vlogistic512Asm(dst, a []float32, n int)
TEXT ·vlogistic512Asm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $4, CX
	JZ   zldone
	VBROADCASTSD logisticdata<>+8(SB), Z8
	VBROADCASTSD logisticdata<>+112(SB), Z9
	VBROADCASTSD logisticdata<>+104(SB), Z10
	VBROADCASTSD logisticdata<>+72(SB), Z11
	VBROADCASTSD logisticdata<>+80(SB), Z12
	VBROADCASTSD logisticdata<>+88(SB), Z13
	VBROADCASTSD logisticdata<>+96(SB), Z14
	VBROADCASTSD logisticdata<>+16(SB), Z15
	VBROADCASTSD logisticdata<>+64(SB), Z16
	VBROADCASTSD logisticdata<>+56(SB), Z17
	VBROADCASTSD logisticdata<>+48(SB), Z18
	VBROADCASTSD logisticdata<>+40(SB), Z19
	VBROADCASTSD logisticdata<>+32(SB), Z20
	VBROADCASTSD logisticdata<>+24(SB), Z21
	VBROADCASTSD logisticdata<>+0(SB), Z22
	VPBROADCASTD logisticdata<>+120(SB), Y23
	VPBROADCASTD logisticdata<>+124(SB), Z24
zlloop:
	// All sixteen inputs are read before anything is written: dst may be the source.
	VMOVUPS (SI), Z7
	VEXTRACTF64X4 $1, Z7, Y25
	// NaN lanes: the input with its quiet bit.
	VCMPPS  $3, Z7, Z7, K2
	VPORD   Z24, Z7, Z26
	HALF512(Y7, Y6)
	VMOVUPS Y6, (DI)
	HALF512(Y25, Y6)
	VMOVUPS Y6, 32(DI)
	VMOVUPS Z26, K2, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  zlloop
zldone:
	VZEROUPPER
	RET
