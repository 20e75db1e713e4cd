package normalize

import (
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

// appendQuotedString is appendQuoted for a string.
func appendQuotedString(dst []byte, s string) []byte {
	return appendQuoted(dst, []byte(s))
}
