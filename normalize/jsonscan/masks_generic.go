package jsonscan

import "encoding/binary"

// maskWords makes whole words of masks eight bytes at a time in Go (the
// exact forms of the has-less and has-zero tests, then the eight flags
// gathered into a byte by a multiply). It is the reference the fuzz test
// checks the assembly against besides a byte loop, and too slow to be
// worth it for the Scanner on its own.
func maskWords(stop, space []uint64, s []byte) {
	const ones, lo7, highs = 0x0101010101010101, 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	eq := func(x uint64, c byte) uint64 {
		t := x ^ ones*uint64(c)
		return ^((t&lo7 + lo7) | t) & highs
	}
	gather := func(h uint64) uint64 { return (h >> 7) * 0x0102040810204080 >> 56 }
	for i := 0; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		ctl := ^((x&lo7 + ones*0x60) | x) & highs
		bit := uint(i % 64)
		w := i / 64
		if bit == 0 {
			stop[w], space[w] = 0, 0
		}
		stop[w] |= gather(ctl|eq(x, '"')|eq(x, '\\')|x&highs) << bit
		space[w] |= gather(eq(x, ' ')|eq(x, '\t')|eq(x, '\n')|eq(x, '\r')) << bit
	}
}
