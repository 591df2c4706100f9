#include "textflag.h"

// The float32 logistic, sigma(x) = 1/(1 + exp(-x)), evaluated in float32 with the same
// instructions in the same order on every lane, eight lanes at a time with AVX2 and sixteen
// with AVX-512, so both loops give the same bits:
//
//	t = max(-|x|, -87.5)                            (exp(t) stays a normal float32)
//	n = round(t log2 e); r = t - n c1 - n c2         (Cody and Waite's two-part ln 2)
//	exp(t) = 2^n (1 + r + r^2 P(r))                  (Cephes' degree-5 P for expf)
//	sigma = 1/(1 + e) for x >= 0, e/(1 + e) for x < 0, with e = exp(t)
//
// Below x = -87.5 the logistic is under 2^-126 and is returned as 0; a NaN comes back as
// itself with its quiet bit set. TestLogisticAgainstFloat64 bounds the error against the
// float64 formula.

DATA sigmoid32<>+0(SB)/4, $0x80000000
DATA sigmoid32<>+4(SB)/4, $0x80000000
DATA sigmoid32<>+8(SB)/4, $0x80000000
DATA sigmoid32<>+12(SB)/4, $0x80000000
DATA sigmoid32<>+16(SB)/4, $0x80000000
DATA sigmoid32<>+20(SB)/4, $0x80000000
DATA sigmoid32<>+24(SB)/4, $0x80000000
DATA sigmoid32<>+28(SB)/4, $0x80000000
DATA sigmoid32<>+32(SB)/4, $0x80000000
DATA sigmoid32<>+36(SB)/4, $0x80000000
DATA sigmoid32<>+40(SB)/4, $0x80000000
DATA sigmoid32<>+44(SB)/4, $0x80000000
DATA sigmoid32<>+48(SB)/4, $0x80000000
DATA sigmoid32<>+52(SB)/4, $0x80000000
DATA sigmoid32<>+56(SB)/4, $0x80000000
DATA sigmoid32<>+60(SB)/4, $0x80000000
DATA sigmoid32<>+64(SB)/4, $0xc2af0000
DATA sigmoid32<>+68(SB)/4, $0xc2af0000
DATA sigmoid32<>+72(SB)/4, $0xc2af0000
DATA sigmoid32<>+76(SB)/4, $0xc2af0000
DATA sigmoid32<>+80(SB)/4, $0xc2af0000
DATA sigmoid32<>+84(SB)/4, $0xc2af0000
DATA sigmoid32<>+88(SB)/4, $0xc2af0000
DATA sigmoid32<>+92(SB)/4, $0xc2af0000
DATA sigmoid32<>+96(SB)/4, $0xc2af0000
DATA sigmoid32<>+100(SB)/4, $0xc2af0000
DATA sigmoid32<>+104(SB)/4, $0xc2af0000
DATA sigmoid32<>+108(SB)/4, $0xc2af0000
DATA sigmoid32<>+112(SB)/4, $0xc2af0000
DATA sigmoid32<>+116(SB)/4, $0xc2af0000
DATA sigmoid32<>+120(SB)/4, $0xc2af0000
DATA sigmoid32<>+124(SB)/4, $0xc2af0000
DATA sigmoid32<>+128(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+132(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+136(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+140(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+144(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+148(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+152(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+156(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+160(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+164(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+168(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+172(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+176(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+180(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+184(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+188(SB)/4, $0x3fb8aa3b
DATA sigmoid32<>+192(SB)/4, $0x3f318000
DATA sigmoid32<>+196(SB)/4, $0x3f318000
DATA sigmoid32<>+200(SB)/4, $0x3f318000
DATA sigmoid32<>+204(SB)/4, $0x3f318000
DATA sigmoid32<>+208(SB)/4, $0x3f318000
DATA sigmoid32<>+212(SB)/4, $0x3f318000
DATA sigmoid32<>+216(SB)/4, $0x3f318000
DATA sigmoid32<>+220(SB)/4, $0x3f318000
DATA sigmoid32<>+224(SB)/4, $0x3f318000
DATA sigmoid32<>+228(SB)/4, $0x3f318000
DATA sigmoid32<>+232(SB)/4, $0x3f318000
DATA sigmoid32<>+236(SB)/4, $0x3f318000
DATA sigmoid32<>+240(SB)/4, $0x3f318000
DATA sigmoid32<>+244(SB)/4, $0x3f318000
DATA sigmoid32<>+248(SB)/4, $0x3f318000
DATA sigmoid32<>+252(SB)/4, $0x3f318000
DATA sigmoid32<>+256(SB)/4, $0xb95e8083
DATA sigmoid32<>+260(SB)/4, $0xb95e8083
DATA sigmoid32<>+264(SB)/4, $0xb95e8083
DATA sigmoid32<>+268(SB)/4, $0xb95e8083
DATA sigmoid32<>+272(SB)/4, $0xb95e8083
DATA sigmoid32<>+276(SB)/4, $0xb95e8083
DATA sigmoid32<>+280(SB)/4, $0xb95e8083
DATA sigmoid32<>+284(SB)/4, $0xb95e8083
DATA sigmoid32<>+288(SB)/4, $0xb95e8083
DATA sigmoid32<>+292(SB)/4, $0xb95e8083
DATA sigmoid32<>+296(SB)/4, $0xb95e8083
DATA sigmoid32<>+300(SB)/4, $0xb95e8083
DATA sigmoid32<>+304(SB)/4, $0xb95e8083
DATA sigmoid32<>+308(SB)/4, $0xb95e8083
DATA sigmoid32<>+312(SB)/4, $0xb95e8083
DATA sigmoid32<>+316(SB)/4, $0xb95e8083
DATA sigmoid32<>+320(SB)/4, $0x39506967
DATA sigmoid32<>+324(SB)/4, $0x39506967
DATA sigmoid32<>+328(SB)/4, $0x39506967
DATA sigmoid32<>+332(SB)/4, $0x39506967
DATA sigmoid32<>+336(SB)/4, $0x39506967
DATA sigmoid32<>+340(SB)/4, $0x39506967
DATA sigmoid32<>+344(SB)/4, $0x39506967
DATA sigmoid32<>+348(SB)/4, $0x39506967
DATA sigmoid32<>+352(SB)/4, $0x39506967
DATA sigmoid32<>+356(SB)/4, $0x39506967
DATA sigmoid32<>+360(SB)/4, $0x39506967
DATA sigmoid32<>+364(SB)/4, $0x39506967
DATA sigmoid32<>+368(SB)/4, $0x39506967
DATA sigmoid32<>+372(SB)/4, $0x39506967
DATA sigmoid32<>+376(SB)/4, $0x39506967
DATA sigmoid32<>+380(SB)/4, $0x39506967
DATA sigmoid32<>+384(SB)/4, $0x3ab743ce
DATA sigmoid32<>+388(SB)/4, $0x3ab743ce
DATA sigmoid32<>+392(SB)/4, $0x3ab743ce
DATA sigmoid32<>+396(SB)/4, $0x3ab743ce
DATA sigmoid32<>+400(SB)/4, $0x3ab743ce
DATA sigmoid32<>+404(SB)/4, $0x3ab743ce
DATA sigmoid32<>+408(SB)/4, $0x3ab743ce
DATA sigmoid32<>+412(SB)/4, $0x3ab743ce
DATA sigmoid32<>+416(SB)/4, $0x3ab743ce
DATA sigmoid32<>+420(SB)/4, $0x3ab743ce
DATA sigmoid32<>+424(SB)/4, $0x3ab743ce
DATA sigmoid32<>+428(SB)/4, $0x3ab743ce
DATA sigmoid32<>+432(SB)/4, $0x3ab743ce
DATA sigmoid32<>+436(SB)/4, $0x3ab743ce
DATA sigmoid32<>+440(SB)/4, $0x3ab743ce
DATA sigmoid32<>+444(SB)/4, $0x3ab743ce
DATA sigmoid32<>+448(SB)/4, $0x3c088908
DATA sigmoid32<>+452(SB)/4, $0x3c088908
DATA sigmoid32<>+456(SB)/4, $0x3c088908
DATA sigmoid32<>+460(SB)/4, $0x3c088908
DATA sigmoid32<>+464(SB)/4, $0x3c088908
DATA sigmoid32<>+468(SB)/4, $0x3c088908
DATA sigmoid32<>+472(SB)/4, $0x3c088908
DATA sigmoid32<>+476(SB)/4, $0x3c088908
DATA sigmoid32<>+480(SB)/4, $0x3c088908
DATA sigmoid32<>+484(SB)/4, $0x3c088908
DATA sigmoid32<>+488(SB)/4, $0x3c088908
DATA sigmoid32<>+492(SB)/4, $0x3c088908
DATA sigmoid32<>+496(SB)/4, $0x3c088908
DATA sigmoid32<>+500(SB)/4, $0x3c088908
DATA sigmoid32<>+504(SB)/4, $0x3c088908
DATA sigmoid32<>+508(SB)/4, $0x3c088908
DATA sigmoid32<>+512(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+516(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+520(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+524(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+528(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+532(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+536(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+540(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+544(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+548(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+552(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+556(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+560(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+564(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+568(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+572(SB)/4, $0x3d2aa9c1
DATA sigmoid32<>+576(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+580(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+584(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+588(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+592(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+596(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+600(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+604(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+608(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+612(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+616(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+620(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+624(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+628(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+632(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+636(SB)/4, $0x3e2aaaaa
DATA sigmoid32<>+640(SB)/4, $0x3f000000
DATA sigmoid32<>+644(SB)/4, $0x3f000000
DATA sigmoid32<>+648(SB)/4, $0x3f000000
DATA sigmoid32<>+652(SB)/4, $0x3f000000
DATA sigmoid32<>+656(SB)/4, $0x3f000000
DATA sigmoid32<>+660(SB)/4, $0x3f000000
DATA sigmoid32<>+664(SB)/4, $0x3f000000
DATA sigmoid32<>+668(SB)/4, $0x3f000000
DATA sigmoid32<>+672(SB)/4, $0x3f000000
DATA sigmoid32<>+676(SB)/4, $0x3f000000
DATA sigmoid32<>+680(SB)/4, $0x3f000000
DATA sigmoid32<>+684(SB)/4, $0x3f000000
DATA sigmoid32<>+688(SB)/4, $0x3f000000
DATA sigmoid32<>+692(SB)/4, $0x3f000000
DATA sigmoid32<>+696(SB)/4, $0x3f000000
DATA sigmoid32<>+700(SB)/4, $0x3f000000
DATA sigmoid32<>+704(SB)/4, $0x3f800000
DATA sigmoid32<>+708(SB)/4, $0x3f800000
DATA sigmoid32<>+712(SB)/4, $0x3f800000
DATA sigmoid32<>+716(SB)/4, $0x3f800000
DATA sigmoid32<>+720(SB)/4, $0x3f800000
DATA sigmoid32<>+724(SB)/4, $0x3f800000
DATA sigmoid32<>+728(SB)/4, $0x3f800000
DATA sigmoid32<>+732(SB)/4, $0x3f800000
DATA sigmoid32<>+736(SB)/4, $0x3f800000
DATA sigmoid32<>+740(SB)/4, $0x3f800000
DATA sigmoid32<>+744(SB)/4, $0x3f800000
DATA sigmoid32<>+748(SB)/4, $0x3f800000
DATA sigmoid32<>+752(SB)/4, $0x3f800000
DATA sigmoid32<>+756(SB)/4, $0x3f800000
DATA sigmoid32<>+760(SB)/4, $0x3f800000
DATA sigmoid32<>+764(SB)/4, $0x3f800000
DATA sigmoid32<>+768(SB)/4, $0x0000007f
DATA sigmoid32<>+772(SB)/4, $0x0000007f
DATA sigmoid32<>+776(SB)/4, $0x0000007f
DATA sigmoid32<>+780(SB)/4, $0x0000007f
DATA sigmoid32<>+784(SB)/4, $0x0000007f
DATA sigmoid32<>+788(SB)/4, $0x0000007f
DATA sigmoid32<>+792(SB)/4, $0x0000007f
DATA sigmoid32<>+796(SB)/4, $0x0000007f
DATA sigmoid32<>+800(SB)/4, $0x0000007f
DATA sigmoid32<>+804(SB)/4, $0x0000007f
DATA sigmoid32<>+808(SB)/4, $0x0000007f
DATA sigmoid32<>+812(SB)/4, $0x0000007f
DATA sigmoid32<>+816(SB)/4, $0x0000007f
DATA sigmoid32<>+820(SB)/4, $0x0000007f
DATA sigmoid32<>+824(SB)/4, $0x0000007f
DATA sigmoid32<>+828(SB)/4, $0x0000007f
DATA sigmoid32<>+832(SB)/4, $0x00400000
DATA sigmoid32<>+836(SB)/4, $0x00400000
DATA sigmoid32<>+840(SB)/4, $0x00400000
DATA sigmoid32<>+844(SB)/4, $0x00400000
DATA sigmoid32<>+848(SB)/4, $0x00400000
DATA sigmoid32<>+852(SB)/4, $0x00400000
DATA sigmoid32<>+856(SB)/4, $0x00400000
DATA sigmoid32<>+860(SB)/4, $0x00400000
DATA sigmoid32<>+864(SB)/4, $0x00400000
DATA sigmoid32<>+868(SB)/4, $0x00400000
DATA sigmoid32<>+872(SB)/4, $0x00400000
DATA sigmoid32<>+876(SB)/4, $0x00400000
DATA sigmoid32<>+880(SB)/4, $0x00400000
DATA sigmoid32<>+884(SB)/4, $0x00400000
DATA sigmoid32<>+888(SB)/4, $0x00400000
DATA sigmoid32<>+892(SB)/4, $0x00400000
DATA sigmoid32<>+896(SB)/4, $0x00000000
DATA sigmoid32<>+900(SB)/4, $0x00000000
DATA sigmoid32<>+904(SB)/4, $0x00000000
DATA sigmoid32<>+908(SB)/4, $0x00000000
DATA sigmoid32<>+912(SB)/4, $0x00000000
DATA sigmoid32<>+916(SB)/4, $0x00000000
DATA sigmoid32<>+920(SB)/4, $0x00000000
DATA sigmoid32<>+924(SB)/4, $0x00000000
DATA sigmoid32<>+928(SB)/4, $0x00000000
DATA sigmoid32<>+932(SB)/4, $0x00000000
DATA sigmoid32<>+936(SB)/4, $0x00000000
DATA sigmoid32<>+940(SB)/4, $0x00000000
DATA sigmoid32<>+944(SB)/4, $0x00000000
DATA sigmoid32<>+948(SB)/4, $0x00000000
DATA sigmoid32<>+952(SB)/4, $0x00000000
DATA sigmoid32<>+956(SB)/4, $0x00000000
GLOBL sigmoid32<>(SB), RODATA|NOPTR, $960

// SIGMOID computes the logistic of the eight values in Y0 into Y5 (Y1-Y7 scratch, Y8 = 1).
#define SIGMOID \
	VORPS     sigmoid32<>+0(SB), Y0, Y1 \
	VMAXPS    sigmoid32<>+64(SB), Y1, Y1 \
	VMULPS    sigmoid32<>+128(SB), Y1, Y2 \
	VCVTPS2DQ Y2, Y3 \
	VCVTDQ2PS Y3, Y2 \
	VFNMADD231PS sigmoid32<>+192(SB), Y2, Y1 \
	VFNMADD231PS sigmoid32<>+256(SB), Y2, Y1 \
	VMULPS    Y1, Y1, Y4 \
	VMOVUPS   sigmoid32<>+320(SB), Y5 \
	VFMADD213PS sigmoid32<>+384(SB), Y1, Y5 \
	VFMADD213PS sigmoid32<>+448(SB), Y1, Y5 \
	VFMADD213PS sigmoid32<>+512(SB), Y1, Y5 \
	VFMADD213PS sigmoid32<>+576(SB), Y1, Y5 \
	VFMADD213PS sigmoid32<>+640(SB), Y1, Y5 \
	VFMADD213PS Y1, Y4, Y5 \
	VADDPS    Y8, Y5, Y5 \
	VPADDD    sigmoid32<>+768(SB), Y3, Y3 \
	VPSLLD    $23, Y3, Y3 \
	VMULPS    Y3, Y5, Y5 \
	VADDPS    Y8, Y5, Y6 \
	VCMPPS    $0x11, sigmoid32<>+896(SB), Y0, Y7 \
	VBLENDVPS Y7, Y5, Y8, Y5 \
	VDIVPS    Y6, Y5, Y5 \
	VCMPPS    $0x11, sigmoid32<>+64(SB), Y0, Y7 \
	VANDNPS   Y5, Y7, Y5 \
	VCMPPS    $3, Y0, Y0, Y7 \
	VORPS     sigmoid32<>+832(SB), Y0, Y6 \
	VBLENDVPS Y7, Y6, Y5, Y5

// SIGMOID512 is SIGMOID on sixteen values in Z0, the masks in K1-K3 (Z8 = 1).
#define SIGMOID512 \
	VORPS     sigmoid32<>+0(SB), Z0, Z1 \
	VMAXPS    sigmoid32<>+64(SB), Z1, Z1 \
	VMULPS    sigmoid32<>+128(SB), Z1, Z2 \
	VCVTPS2DQ Z2, Z3 \
	VCVTDQ2PS Z3, Z2 \
	VFNMADD231PS sigmoid32<>+192(SB), Z2, Z1 \
	VFNMADD231PS sigmoid32<>+256(SB), Z2, Z1 \
	VMULPS    Z1, Z1, Z4 \
	VMOVUPS   sigmoid32<>+320(SB), Z5 \
	VFMADD213PS sigmoid32<>+384(SB), Z1, Z5 \
	VFMADD213PS sigmoid32<>+448(SB), Z1, Z5 \
	VFMADD213PS sigmoid32<>+512(SB), Z1, Z5 \
	VFMADD213PS sigmoid32<>+576(SB), Z1, Z5 \
	VFMADD213PS sigmoid32<>+640(SB), Z1, Z5 \
	VFMADD213PS Z1, Z4, Z5 \
	VADDPS    Z8, Z5, Z5 \
	VPADDD    sigmoid32<>+768(SB), Z3, Z3 \
	VPSLLD    $23, Z3, Z3 \
	VMULPS    Z3, Z5, Z5 \
	VADDPS    Z8, Z5, Z6 \
	VCMPPS    $0x11, sigmoid32<>+896(SB), Z0, K1 \
	VBLENDMPS Z5, Z8, K1, Z5 \
	VDIVPS    Z6, Z5, Z5 \
	VCMPPS    $0x11, sigmoid32<>+64(SB), Z0, K2 \
	VXORPS    Z5, Z5, K2, Z5 \
	VCMPPS    $3, Z0, Z0, K3 \
	VORPS     sigmoid32<>+832(SB), Z0, Z6 \
	VMOVAPS   Z6, K3, Z5

// func vlogisticAsm(dst, a []float32, n int)
TEXT ·vlogisticAsm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $3, CX
	JZ   ldone
	VMOVUPS sigmoid32<>+704(SB), Y8
lloop:
	VMOVUPS (SI), Y0
	SIGMOID
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  lloop
ldone:
	VZEROUPPER
	RET

// func vlogistic512Asm(dst, a []float32, n int)
TEXT ·vlogistic512Asm(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ a+24(FP), SI
	MOVQ n+48(FP), CX
	SHRQ $4, CX
	JZ   zdone
	VMOVUPS sigmoid32<>+704(SB), Z8
zloop:
	VMOVUPS (SI), Z0
	SIGMOID512
	VMOVUPS Z5, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  zloop
zdone:
	VZEROUPPER
	RET
