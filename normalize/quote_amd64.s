//go:build !purego

#include "textflag.h"

#define SPLAT(name, b) \
	DATA name<>+0(SB)/8, $b; \
	DATA name<>+8(SB)/8, $b; \
	GLOBL name<>(SB), RODATA|NOPTR, $16

SPLAT(quotes, 0x2222222222222222)
SPLAT(backslashes, 0x5c5c5c5c5c5c5c5c)
SPLAT(controls, 0x1f1f1f1f1f1f1f1f)

// spaces holds, at each low nibble, the white space byte with that nibble,
// or 0: a byte is white space when PSHUFB of it gives it back.
DATA spaces<>+0(SB)/8, $0x0000000000000020
DATA spaces<>+8(SB)/8, $0x00000d00000a0900
GLOBL spaces<>(SB), RODATA|NOPTR, $16

// letters holds the escape letters of '\t', '\n' and '\r' at their low
// nibbles.
DATA letters<>+0(SB)/8, $0x0000000000000000
DATA letters<>+8(SB)/8, $0x00007200006e7400
GLOBL letters<>(SB), RODATA|NOPTR, $16

// func quoteBlocksSSSE3(dst, src []byte, shuffles *[256][16]byte, lens *[256]uint8) (written, read int)
TEXT ·quoteBlocksSSSE3(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ shuffles+48(FP), R10
	MOVQ lens+56(FP), R11
	MOVQ DI, BX
	MOVQ SI, R12
	MOVOU quotes<>(SB), X8
	MOVOU backslashes<>(SB), X9
	MOVOU controls<>(SB), X10
	MOVOU spaces<>(SB), X11
	MOVOU letters<>(SB), X12

loop:
	CMPQ CX, $8
	JLT  done
	MOVQ (SI), X0 // eight bytes; the high eight are zero

	MOVOU   X0, X3
	PMINUB  X10, X3
	PCMPEQB X0, X3 // X3: controls (c < 0x20)
	MOVOU   X11, X4
	PSHUFB  X0, X4
	PCMPEQB X0, X4 // X4: white space
	PANDN   X3, X4 // X4: controls that are not white space
	PMOVMSKB X4, AX
	TESTL   $0xff, AX
	JNZ     done // a six-byte escape: the caller's

	MOVOU   X12, X6
	PSHUFB  X0, X6
	PAND    X3, X6 // the letters of the controls
	MOVOU   X3, X7
	PANDN   X0, X7 // the other bytes
	POR     X7, X6 // X6: each byte as it follows its backslash, if any

	MOVOU   X0, X1
	PCMPEQB X8, X1
	MOVOU   X0, X2
	PCMPEQB X9, X2
	POR     X2, X1
	POR     X3, X1
	PMOVMSKB X1, AX
	ANDL    $0xff, AX // the bytes to escape

	PUNPCKLQDQ X9, X6 // bytes 8 to 15: backslashes
	MOVQ    AX, DX
	SHLQ    $4, DX
	MOVOU   (R10)(DX*1), X7
	PSHUFB  X7, X6
	MOVOU   X6, (DI)
	MOVBQZX (R11)(AX*1), DX
	ADDQ    DX, DI
	ADDQ    $8, SI
	SUBQ    $8, CX
	JMP     loop

done:
	SUBQ BX, DI
	MOVQ DI, written+64(FP)
	SUBQ R12, SI
	MOVQ SI, read+72(FP)
	RET
