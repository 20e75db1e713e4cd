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
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendQuotedUTF8 is appendQuoted for s known to be valid UTF-8 (a record
// the scanner read whole): non-ASCII needs no decoding then. It is the
// message of every record, the hot loop: esc, s's Escape mask, says where
// the bytes to escape are, and the runs between them are copied a word or
// two at a time.
func appendQuotedUTF8(dst, s []byte, esc []uint64) []byte {
	escapes := 0
	for _, w := range esc {
		escapes += bits.OnesCount64(w)
	}

	dst = append(dst, '"')
	n := len(dst)
	// Room for all: an escape takes at most 6 bytes, and the last run's
	// two words may write 16 bytes past it.
	dst = slices.Grow(dst, len(s)+5*escapes+16)
	dst = dst[:cap(dst)]
	start := 0 // the first byte of s not yet in dst
	for w, left := range esc {
		for left != 0 {
			i := w*64 + bits.TrailingZeros64(left)
			left &= left - 1
			if run := i - start; run <= 16 && start+16 <= len(s) {
				// Runs are short in a pretty-printed record: two
				// stores that may write past the run beat a copy call.
				binary.LittleEndian.PutUint64(dst[n:], binary.LittleEndian.Uint64(s[start:]))
				binary.LittleEndian.PutUint64(dst[n+8:], binary.LittleEndian.Uint64(s[start+8:]))
				n += run
			} else {
				n += copy(dst[n:], s[start:i])
			}
			if e := shortEscape[s[i]]; e != 0 {
				dst[n], dst[n+1] = '\\', e
				n += 2
			} else {
				n = putEscape(dst, n, s[i])
			}
			start = i + 1
		}
	}
	dst = append(dst[:n], s[start:]...)
	return append(dst, '"')
}

// shortEscape holds the letter after the backslash of the bytes with a
// two-byte escape.
var shortEscape = [256]byte{'"': '"', '\\': '\\', '\n': 'n', '\r': 'r', '\t': 't'}

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
