//go:build !purego

#include "textflag.h"

#define SPLAT(name, b) \
	DATA name<>+0(SB)/8, $b; \
	DATA name<>+8(SB)/8, $b; \
	GLOBL name<>(SB), RODATA|NOPTR, $16

SPLAT(quotes, 0x2222222222222222)
SPLAT(backslashes, 0x5c5c5c5c5c5c5c5c)
SPLAT(controls, 0x1f1f1f1f1f1f1f1f)
SPLAT(spaces, 0x2020202020202020)
SPLAT(tabs, 0x0909090909090909)
SPLAT(newlines, 0x0a0a0a0a0a0a0a0a)
SPLAT(returns, 0x0d0d0d0d0d0d0d0d)

// func maskBlocks(esc, high, space []uint64, s []byte)
TEXT ·maskBlocks(SB), NOSPLIT, $0-96
	MOVQ esc_base+0(FP), DI
	MOVQ high_base+24(FP), R8
	MOVQ space_base+48(FP), R9
	MOVQ s_base+72(FP), SI
	MOVQ s_len+80(FP), CX
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
	PMOVMSKB X0, AX // the high bits: non-ASCII
	MOVW     AX, (R8)

	MOVOU    X0, X1
	PCMPEQB  X8, X1 // '"'
	MOVOU    X0, X2
	PCMPEQB  X9, X2 // '\\'
	POR      X2, X1
	MOVOU    X0, X2
	PMINUB   X10, X2 // min(c, 0x1f) == c: c < 0x20
	PCMPEQB  X0, X2
	POR      X2, X1
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
	ADDQ $2, R8
	ADDQ $2, R9
	DECQ CX
	JNZ  loop

done:
	RET
