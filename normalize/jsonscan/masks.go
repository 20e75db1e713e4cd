package jsonscan

import "math/bits"

// Masks are bitmaps of a text's bytes: bit i%64 of word i/64 stands for
// byte i. They are made sixteen bytes at a time (with SSE2 on amd64), so
// that the Scanner can jump over white space and string runs, and a
// caller can escape the text into a JSON string, by their set bits
// rather than byte by byte: a pretty-printed record has a byte to act on
// every eight or so.
type Masks struct {
	Escape   []uint64 // '"', '\\' and bytes below 0x20: what a JSON string escapes
	NonASCII []uint64 // bytes from 0x80 on
	Space    []uint64 // ' ', '\t', '\n' and '\r'
}

// MaskWords returns how many words a mask of n bytes takes.
func MaskWords(n int) int { return (n + 63) / 64 }

// Find makes the masks of s, reusing their space.
func (m *Masks) Find(s []byte) {
	words := MaskWords(len(s))
	m.Escape = grow(m.Escape, words)
	m.NonASCII = grow(m.NonASCII, words)
	m.Space = grow(m.Space, words)
	if words == 0 {
		return
	}
	// The blocks may not reach the last word's end: clear it first.
	m.Escape[words-1], m.NonASCII[words-1], m.Space[words-1] = 0, 0, 0
	n := len(s) &^ 15
	if n > 0 {
		maskBlocks(m.Escape, m.NonASCII, m.Space, s[:n])
	}
	for i := n; i < len(s); i++ {
		esc, high, space := classify(s[i])
		bit := uint64(1) << (i % 64)
		if esc {
			m.Escape[i/64] |= bit
		}
		if high {
			m.NonASCII[i/64] |= bit
		}
		if space {
			m.Space[i/64] |= bit
		}
	}
}

func grow(m []uint64, words int) []uint64 {
	if cap(m) < words {
		return make([]uint64, words)
	}
	return m[:words]
}

// classify says which masks byte c belongs to.
func classify(c byte) (esc, high, space bool) {
	return c < 0x20 || c == '"' || c == '\\', c >= 0x80, c == ' ' || c == '\t' || c == '\n' || c == '\r'
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
	if w >= len(m.Escape) {
		return n
	}
	if x := (m.Escape[w] | m.NonASCII[w]) >> (i & 63); x != 0 {
		return i + bits.TrailingZeros64(x)
	}
	for w++; w < len(m.Escape); w++ {
		if x := m.Escape[w] | m.NonASCII[w]; x != 0 {
			return w*64 + bits.TrailingZeros64(x)
		}
	}
	return n
}
