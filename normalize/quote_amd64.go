//go:build !purego

package normalize

import (
	"math/bits"

	"golang.org/x/sys/cpu"
)

// haveQuoteBlocks: quoteBlocks needs SSSE3 (PSHUFB), which nearly every
// amd64 made since 2006 has.
var haveQuoteBlocks = cpu.X86.HasSSSE3

// quoteBlocks writes src to dst as JSON string content, eight bytes a
// step, while eight bytes are left and they hold no control byte other
// than '\t', '\n' and '\r' (whose escapes take six bytes): it returns the
// bytes written and read. Each step stores 16 bytes, so dst must have
// room for twice what it reads, plus 16.
func quoteBlocks(dst, src []byte) (written, read int) {
	return quoteBlocksSSSE3(dst, src, &quoteShuffles, &quoteLens)
}

//go:noescape
func quoteBlocksSSSE3(dst, src []byte, shuffles *[256][16]byte, lens *[256]uint8) (written, read int)

// quoteShuffles[m] is the PSHUFB control that turns eight bytes whose
// bytes to escape are the set bits of m (beside eight backslashes, bytes
// 8 to 15) into their escaped text; quoteLens[m] is that text's length.
var quoteShuffles, quoteLens = func() (shuffles [256][16]byte, lens [256]uint8) {
	for m := range 256 {
		k := 0
		for j := range 8 {
			if m>>j&1 == 1 {
				shuffles[m][k] = 8 // a backslash
				k++
			}
			shuffles[m][k] = byte(j)
			k++
		}
		for ; k < 16; k++ {
			shuffles[m][k] = 0x80 // zero
		}
		lens[m] = uint8(8 + bits.OnesCount8(uint8(m)))
	}
	return shuffles, lens
}()
