package jsonscan

import "math/bits"

// Masks are bitmaps of a text's bytes (bit i%64 of word i/64 stands for
// byte i) that let the Scanner jump over white space and string runs by
// their bits rather than test byte after byte: in a pretty-printed record
// a run is seven bytes long on average. Where they can be made fast
// (amd64: 32 bytes a step with AVX2, else 16 with SSE2) Find makes them;
// elsewhere it leaves them empty, and the Scanner goes byte by byte.
type Masks struct {
	// Stop: the bytes a string run stops at: '"', '\\', bytes below 0x20
	// and bytes from 0x80 on (which need UTF-8 checking).
	Stop []uint64
	// Space: ' ', '\t', '\n' and '\r'.
	Space []uint64
}

// wordsFor returns how many words a mask of n bytes takes.
func wordsFor(n int) int { return (n + 63) / 64 }

// Find makes the masks of s, reusing their space.
func (m *Masks) Find(s []byte) {
	if !masksFast {
		m.Stop, m.Space = m.Stop[:0], m.Space[:0]
		return
	}
	words := wordsFor(len(s))
	m.Stop = grow(m.Stop, words)
	m.Space = grow(m.Space, words)
	if words == 0 {
		return
	}
	// The blocks may not reach the last word's end: clear it first.
	m.Stop[words-1], m.Space[words-1] = 0, 0
	n := len(s) &^ 31
	if n > 0 {
		maskBlocks(m.Stop, m.Space, s[:n])
	}
	if n < len(s) {
		// The last bytes, padded to a block: their bits go in at n%64
		// (0 or 32), below the length.
		var tail [32]byte
		var stop, space [1]uint64
		copy(tail[:], s[n:])
		maskBlocks(stop[:], space[:], tail[:])
		keep, w, at := uint64(1)<<(len(s)-n)-1, n/64, n%64
		m.Stop[w] |= stop[0] & keep << at
		m.Space[w] |= space[0] & keep << at
	}
}

func grow(m []uint64, words int) []uint64 {
	if cap(m) < words {
		return make([]uint64, words)
	}
	return m[:words]
}

// nextSolid returns the index of the first byte from i on that is not
// white space (a clear bit of Space), or n (the text's length).
func (m *Masks) nextSolid(i, n int) int {
	w := i >> 6
	if w >= len(m.Space) {
		return n
	}
	if x := ^m.Space[w] >> (i & 63); x != 0 {
		return min(i+bits.TrailingZeros64(x), n)
	}
	for w++; w < len(m.Space); w++ {
		if x := ^m.Space[w]; x != 0 {
			return min(w*64+bits.TrailingZeros64(x), n)
		}
	}
	return n
}

// nextStop is SafeRun by the masks: the first byte from i on that is a
// quote, a backslash, a control character or non-ASCII; or n.
func (m *Masks) nextStop(i, n int) int {
	w := i >> 6
	if w >= len(m.Stop) {
		return n
	}
	if x := m.Stop[w] >> (i & 63); x != 0 {
		return i + bits.TrailingZeros64(x)
	}
	for w++; w < len(m.Stop); w++ {
		if x := m.Stop[w]; x != 0 {
			return w*64 + bits.TrailingZeros64(x)
		}
	}
	return n
}

// stringEnd is skipString by the masks: the index just past the string
// whose text starts at i (after its opening quote), or -1 when it does
// not end. Like skipString it checks nothing, so a stop at a control or
// non-ASCII byte just goes on.
func (m *Masks) stringEnd(data []byte, i int) int {
	for {
		j := m.nextStop(i, len(data))
		if j >= len(data) {
			return -1
		}
		switch data[j] {
		case '"':
			return j + 1
		case '\\':
			i = j + 2 // past the escaped byte, whatever it is
		default:
			i = j + 1
		}
	}
}
