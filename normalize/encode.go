package normalize

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf8"

	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

const hexDigits = "0123456789abcdef"

// appendQuoted appends s to dst as a JSON string. Quotes, backslashes and
// control characters are escaped; everything else, non-ASCII included, is
// copied as it is. Invalid UTF-8 becomes U+FFFD, as in encoding/json: a
// JSON string cannot carry it.
func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = jsonscan.SafeRun(s, i); i >= len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size > 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = appendEscaped(append(dst, s[start:i]...), s[i:i+1])
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendQuotedUTF8 is appendQuoted for s known to be valid UTF-8 (a record
// the scanner read whole): non-ASCII needs no decoding then. It is the
// message of every record, the hot loop: the text goes eight bytes at a
// time, each word stored as it is and cut at its first byte to escape.
func appendQuotedUTF8(dst, s []byte) []byte {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	dst = append(dst, '"')
	n := len(dst)
	dst = dst[:cap(dst)]
	i := 0
	for ; i+8 <= len(s); i++ {
		// Room for a word and an escape (at most 6 bytes), whatever
		// comes.
		if len(dst)-n < 16 {
			dst = append(dst[:n], make([]byte, 16+len(s)-i)...)
			dst = dst[:cap(dst)]
		}
		x := binary.LittleEndian.Uint64(s[i:])
		binary.LittleEndian.PutUint64(dst[n:], x)
		q, bs := x^(ones*'"'), x^(ones*'\\')
		// A byte below 0x20, '"' or '\\' (has-less and has-zero: exact
		// for the lowest byte found, which is all that is used).
		m := ((x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs) & highs
		if m == 0 {
			i += 7
			n += 8
			continue
		}
		k := bits.TrailingZeros64(m) >> 3
		i += k
		n += k
		if c := s[i]; c == '"' || c == '\\' {
			dst[n], dst[n+1] = '\\', c
			n += 2
		} else {
			n = putEscape(dst, n, c)
		}
	}
	return append(appendEscaped(dst[:n], s[i:]), '"')
}

// appendEscaped appends s (valid UTF-8) as JSON string content, a byte at
// a time: the ends that the loops above leave.
func appendEscaped(dst, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' {
			dst = slices.Grow(dst, 6)
			dst = dst[:putEscape(dst[:len(dst)+6], len(dst), c)]
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// putEscape writes the escape of c at dst[n:] (room for 6 bytes) and
// returns the index after it.
func putEscape(dst []byte, n int, c byte) int {
	switch c {
	case '"', '\\':
		dst[n], dst[n+1] = '\\', c
		return n + 2
	case '\n':
		dst[n], dst[n+1] = '\\', 'n'
		return n + 2
	case '\r':
		dst[n], dst[n+1] = '\\', 'r'
		return n + 2
	case '\t':
		dst[n], dst[n+1] = '\\', 't'
		return n + 2
	}
	copy(dst[n:], []byte{'\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf]})
	return n + 6
}

// appendQuotedString is appendQuoted for a string.
func appendQuotedString(dst []byte, s string) []byte {
	return appendQuoted(dst, []byte(s))
}
