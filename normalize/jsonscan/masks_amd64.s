//go:build !purego

#include "textflag.h"

#define SPLAT(name, b) \
	DATA name<>+0(SB)/8, $b; \
	DATA name<>+8(SB)/8, $b; \
	DATA name<>+16(SB)/8, $b; \
	DATA name<>+24(SB)/8, $b; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

SPLAT(quotes, 0x2222222222222222)
SPLAT(backslashes, 0x5c5c5c5c5c5c5c5c)
SPLAT(controls, 0x1f1f1f1f1f1f1f1f)
SPLAT(spaces, 0x2020202020202020)
SPLAT(tabs, 0x0909090909090909)
SPLAT(newlines, 0x0a0a0a0a0a0a0a0a)
SPLAT(returns, 0x0d0d0d0d0d0d0d0d)

// spaceTable holds, at each low nibble, the white space byte with that
// nibble, or 0: a byte is white space when VPSHUFB gives it back. A byte
// with its high bit set looks up 0.
DATA spaceTable<>+0(SB)/8, $0x0000000000000020
DATA spaceTable<>+8(SB)/8, $0x00000d00000a0900
DATA spaceTable<>+16(SB)/8, $0x0000000000000020
DATA spaceTable<>+24(SB)/8, $0x00000d00000a0900
GLOBL spaceTable<>(SB), RODATA|NOPTR, $32

// func maskBlocksAVX2(stop, space []uint64, s []byte)
TEXT ·maskBlocksAVX2(SB), NOSPLIT, $0-72
	MOVQ stop_base+0(FP), DI
	MOVQ space_base+24(FP), R9
	MOVQ s_base+48(FP), SI
	MOVQ s_len+56(FP), CX
	SHRQ $5, CX
	JZ   avxdone
	VMOVDQU quotes<>(SB), Y8
	VMOVDQU backslashes<>(SB), Y9
	VMOVDQU controls<>(SB), Y10
	VMOVDQU spaceTable<>(SB), Y11

avxloop:
	VMOVDQU   (SI), Y0
	VPCMPEQB  Y8, Y0, Y1 // '"'
	VPCMPEQB  Y9, Y0, Y2 // '\\'
	VPOR      Y2, Y1, Y1
	VPMINUB   Y10, Y0, Y2 // min(c, 0x1f) == c: c < 0x20
	VPCMPEQB  Y0, Y2, Y2
	VPOR      Y2, Y1, Y1
	VPOR      Y0, Y1, Y1 // and the high bit: non-ASCII
	VPMOVMSKB Y1, AX
	MOVL      AX, (DI)

	VPSHUFB   Y0, Y11, Y2
	VPCMPEQB  Y0, Y2, Y2
	VPMOVMSKB Y2, AX
	MOVL      AX, (R9)

	ADDQ $32, SI
	ADDQ $4, DI
	ADDQ $4, R9
	DECQ CX
	JNZ  avxloop
	VZEROUPPER

avxdone:
	RET

// func maskBlocksSSE2(stop, space []uint64, s []byte)
TEXT ·maskBlocksSSE2(SB), NOSPLIT, $0-72
	MOVQ stop_base+0(FP), DI
	MOVQ space_base+24(FP), R9
	MOVQ s_base+48(FP), SI
	MOVQ s_len+56(FP), CX
	SHRQ $4, CX
	JZ   done
	MOVOU quotes<>(SB), X8
	MOVOU backslashes<>(SB), X9
	MOVOU controls<>(SB), X10
	MOVOU spaces<>(SB), X11
	MOVOU tabs<>(SB), X12
	MOVOU newlines<>(SB), X13
	MOVOU returns<>(SB), X14

loop:
	MOVOU    (SI), X0
	MOVOU    X0, X1
	PCMPEQB  X8, X1 // '"'
	MOVOU    X0, X2
	PCMPEQB  X9, X2 // '\\'
	POR      X2, X1
	MOVOU    X0, X2
	PMINUB   X10, X2 // min(c, 0x1f) == c: c < 0x20
	PCMPEQB  X0, X2
	POR      X2, X1
	POR      X0, X1 // and the high bit: non-ASCII
	PMOVMSKB X1, AX
	MOVW     AX, (DI)

	MOVOU    X0, X1
	PCMPEQB  X11, X1 // ' '
	MOVOU    X0, X2
	PCMPEQB  X12, X2 // '\t'
	POR      X2, X1
	MOVOU    X0, X2
	PCMPEQB  X13, X2 // '\n'
	POR      X2, X1
	PCMPEQB  X14, X0 // '\r'
	POR      X0, X1
	PMOVMSKB X1, AX
	MOVW     AX, (R9)

	ADDQ $16, SI
	ADDQ $2, DI
	ADDQ $2, R9
	DECQ CX
	JNZ  loop

done:
	RET
