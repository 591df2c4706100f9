#include "textflag.h"

// func cpuidRDPID() bool
// CPUID leaf 7, subleaf 0: ECX bit 22 says the CPU has RDPID. Leaf 0 first: a CPU whose
// highest leaf is below 7 answers leaf 7 with another leaf's bits.
TEXT ·cpuidRDPID(SB), NOSPLIT, $0-1
	MOVL $0, AX
	MOVL $0, CX
	CPUID
	CMPL AX, $7
	JB   none
	MOVL $7, AX
	MOVL $0, CX
	CPUID
	SHRL $22, CX
	ANDL $1, CX
	MOVB CX, ret+0(FP)
	RET
none:
	MOVB $0, ret+0(FP)
	RET

// func rdpid() uint32
// RDPID reads IA32_TSC_AUX, where Linux keeps the number of the core the thread runs on
// (in its low 12 bits) and of its NUMA node (above them).
TEXT ·rdpid(SB), NOSPLIT, $0-4
	BYTE $0xF3; BYTE $0x0F; BYTE $0xC7; BYTE $0xF8 // RDPID RAX
	MOVL AX, ret+0(FP)
	RET
