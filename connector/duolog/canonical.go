package duolog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"unicode/utf8"

	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// RecordHash identifies a record that has no id of its own: the SHA-256
// (first 16 bytes, hex) of its canonical JSON, which is what encoding/json
// writes for the record decoded with UseNumber (keys sorted, no
// insignificant space, strings escaped its way), so the same record hashes
// the same however it was serialized.
func RecordHash(raw []byte) string {
	var c canonicalizer
	return c.hash(raw)
}

// canonicalizer computes RecordHash in one pass of the scanner, with its
// buffers reused from record to record (a reader hashes every v1 record
// it reads).
type canonicalizer struct {
	buf, scratch []byte
	// The members, decoded keys and key spans of the objects being
	// written, outermost first: each object uses them past where its
	// parent's end, and gives that back when done.
	members []member
	keys    []byte
	spans   []keySpan
}

// keySpan locates a decoded key in canonicalizer.keys.
type keySpan struct{ start, end int }

type member struct {
	key   []byte // decoded
	value []byte // raw
}

func (c *canonicalizer) hash(raw []byte) string {
	var ok bool
	c.buf, ok = c.appendValue(c.buf[:0], raw)
	if !ok {
		c.buf = legacyCanonical(c.buf[:0], raw)
	}
	sum := sha256.Sum256(c.buf)
	return hex.EncodeToString(sum[:16])
}

// legacyCanonical is the canonical form through encoding/json: the
// definition the fast path reproduces, and its fallback for what it does
// not handle (duplicate keys, invalid JSON).
func legacyCanonical(dst, raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) == nil {
		if b, err := json.Marshal(v); err == nil {
			return append(dst, b...)
		}
	}
	return append(dst, raw...)
}

// appendValue appends the canonical form of the one JSON value raw holds.
func (c *canonicalizer) appendValue(dst, raw []byte) ([]byte, bool) {
	var s jsonscan.Scanner
	s.Reset(raw)
	v, err := s.Value()
	if err != nil || s.End() != nil {
		return dst, false
	}
	return c.appendScanned(dst, v)
}

func (c *canonicalizer) appendScanned(dst []byte, v jsonscan.Value) ([]byte, bool) {
	switch v.Kind {
	case jsonscan.String:
		c.scratch = jsonscan.Unquote(c.scratch[:0], v)
		return appendJSONString(dst, c.scratch), true
	case jsonscan.Object:
		return c.appendObject(dst, v.Raw)
	case jsonscan.Array:
		return c.appendArray(dst, v.Raw)
	}
	return append(dst, v.Raw...), true // numbers as written, true, false, null
}

func (c *canonicalizer) appendObject(dst, raw []byte) ([]byte, bool) {
	var s jsonscan.Scanner
	s.Reset(raw)
	base, keysBase, spansBase := len(c.members), len(c.keys), len(c.spans)
	defer func() {
		c.members, c.keys, c.spans = c.members[:base], c.keys[:keysBase], c.spans[:spansBase]
	}()
	err := s.Members(func(key []byte, esc bool) error {
		start := len(c.keys)
		c.keys = append(c.keys, jsonscan.Key(key, esc)...)
		c.spans = append(c.spans, keySpan{start, len(c.keys)})
		v, err := s.Value()
		c.members = append(c.members, member{value: v.Raw})
		return err
	})
	if err != nil {
		return dst, false
	}
	// Nested objects only append to c.keys past these (a reallocation
	// leaves these keys where they are).
	ms, spans := c.members[base:], c.spans[spansBase:]
	for i := range ms {
		ms[i].key = c.keys[spans[i].start:spans[i].end:spans[i].end]
	}
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(ms); i++ {
		if bytes.Equal(ms[i-1].key, ms[i].key) {
			return dst, false // encoding/json keeps the last: leave it to it
		}
	}
	dst = append(dst, '{')
	for i, m := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, m.key)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = c.appendValue(dst, m.value); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

func (c *canonicalizer) appendArray(dst, raw []byte) ([]byte, bool) {
	var s jsonscan.Scanner
	s.Reset(raw)
	dst = append(dst, '[')
	first, ok := true, true
	err := s.Elements(func() error {
		v, err := s.Value()
		if err != nil {
			return err
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst, ok = c.appendScanned(dst, v)
		if !ok {
			return errStop
		}
		return nil
	})
	if err != nil {
		return dst, false
	}
	return append(dst, ']'), true
}

var errStop = errors.New("stop")

// appendJSONString writes s as encoding/json does (HTML escaping on):
// quotes, backslashes and control characters escaped (\b \f \n \r \t in
// short form), <, > and & as \u003c \u003e \u0026, U+2028 and U+2029
// escaped, invalid UTF-8 as \ufffd.
func appendJSONString(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
