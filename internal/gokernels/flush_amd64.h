// FLUSH_ON and FLUSH_OFF bracket a micro-kernel's arithmetic: FLUSH_ON saves the caller's
// MXCSR in the kernel's 8-byte frame and sets denormals-are-zero and flush-to-zero; FLUSH_OFF
// puts the saved MXCSR back. A subnormal float32 (below 2^-126 in magnitude) in A, B or C is
// then read as zero and a subnormal result is written as zero. Without them every FMA that
// meets a subnormal takes a microcode assist of a hundred or more cycles, and a kernel
// reuses each B row in up to 16 FMAs: a few hundred subnormals in a U-Net's output gradient
// made its kernel-gradient product several times slower. The mode lives only inside the
// kernel, between two instructions of one assembly function, so no Go code ever runs with it.
#define FLUSH_ON \
	STMXCSR mxcsr-8(SP) \
	MOVL    mxcsr-8(SP), AX \
	ORL     $0x8040, AX \
	MOVL    AX, mxcsr-4(SP) \
	LDMXCSR mxcsr-4(SP)

#define FLUSH_OFF \
	LDMXCSR mxcsr-8(SP)
