package normalize

import (
	"fmt"
	"unicode/utf8"
)

// This file is a strict, single-pass JSON scanner (RFC 8259, UTF-8 only).
// It validates every byte it passes over and hands back values as spans of
// the input, so the normalizer can copy mapped strings into its output
// without decoding and re-encoding them. FuzzScanner checks it against
// encoding/json.Valid.

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

// kind is the JSON type of a scanned value.
type kind uint8

const (
	kindNone kind = iota // not present
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// value is one scanned JSON value: its exact text in the input.
type value struct {
	raw  []byte // the value's JSON text; for strings, including the quotes
	kind kind
	esc  bool // a string with at least one escape sequence
}

// present reports whether the mapping rules treat v as set: not missing,
// not null, not "", not [] (and not {}).
func (v value) present() bool {
	switch v.kind {
	case kindNone, kindNull:
		return false
	case kindString, kindArray, kindObject:
		return len(v.raw) > 2
	}
	return true
}

// text returns a string value's decoded text: the input itself when it
// has no escapes, else decoded into scratch.
func (v value) text(scratch []byte) []byte {
	if !v.esc {
		return v.content()
	}
	return unquote(scratch, v)
}

// content returns a string value's text between the quotes, still escaped.
func (v value) content() []byte { return v.raw[1 : len(v.raw)-1] }

var kindNames = [...]string{
	kindNone: "nothing", kindNull: "null", kindBool: "boolean", kindNumber: "number",
	kindString: "string", kindArray: "array", kindObject: "object",
}

// syntaxError says where and why the input stopped being JSON.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.offset, e.msg)
}

// scanner walks one JSON text.
type scanner struct {
	data  []byte
	pos   int
	depth int
}

func (s *scanner) reset(data []byte) {
	s.data, s.pos, s.depth = data, 0, 0
}

func (s *scanner) fail(msg string) error {
	return &syntaxError{msg: msg, offset: s.pos}
}

func (s *scanner) failChar(context string) error {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of input " + context)
	}
	return s.fail(fmt.Sprintf("invalid character %s %s", quoteChar(s.data[s.pos]), context))
}

func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= 0x20 && c < 0x7f:
		return "'" + string(c) + "'"
	}
	return fmt.Sprintf("0x%02x", c)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// end checks that nothing but white space follows the top-level value.
func (s *scanner) end() error {
	s.skipSpace()
	if s.pos != len(s.data) {
		return s.failChar("after top-level value")
	}
	return nil
}

// peek returns the next non-space byte, or 0 at the end of input.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// strSafe marks bytes that may appear unescaped inside a string and need
// no further checking: printable ASCII other than '"' and '\\'.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string starting at the opening quote.
func (s *scanner) str() (value, error) {
	start := s.pos
	s.pos++ // opening quote
	esc := false
	data := s.data
	for {
		i := s.pos
		for i < len(data) && strSafe[data[i]] {
			i++
		}
		s.pos = i
		if i >= len(data) {
			return value{}, s.fail("unexpected end of input in string")
		}
		switch c := data[i]; {
		case c == '"':
			s.pos++
			return value{raw: data[start:s.pos], kind: kindString, esc: esc}, nil
		case c == '\\':
			esc = true
			if err := s.escape(); err != nil {
				return value{}, err
			}
		case c < 0x20:
			return value{}, s.fail(fmt.Sprintf("control character 0x%02x in string", c))
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return value{}, s.fail("invalid UTF-8 in string")
			}
			s.pos += size
		}
	}
}

func (s *scanner) escape() error {
	s.pos++ // backslash
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of input in string escape")
	}
	switch s.data[s.pos] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos++
		return nil
	case 'u':
		s.pos++
		for range 4 {
			if s.pos >= len(s.data) {
				return s.fail("unexpected end of input in \\u escape")
			}
			if hexVal(s.data[s.pos]) < 0 {
				return s.failChar("in \\u escape")
			}
			s.pos++
		}
		return nil
	}
	return s.failChar("in string escape")
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

func (s *scanner) number() (value, error) {
	start := s.pos
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++
	} else if s.digits() == 0 {
		return value{}, s.failChar("in numeric literal")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return value{}, s.failChar("after decimal point in numeric literal")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return value{}, s.failChar("in exponent of numeric literal")
		}
	}
	return value{raw: s.data[start:s.pos], kind: kindNumber}, nil
}

func (s *scanner) literal(word string, k kind) (value, error) {
	start := s.pos
	for i := 0; i < len(word); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != word[i] {
			return value{}, s.failChar("in literal " + word)
		}
		s.pos++
	}
	return value{raw: s.data[start:s.pos], kind: k}, nil
}

// value scans any JSON value. Objects and arrays are validated and returned
// whole; callers that need their members use members instead.
func (s *scanner) value() (value, error) {
	switch s.peek() {
	case '"':
		return s.str()
	case '{':
		start := s.pos
		if err := s.members(func([]byte, bool) error { _, err := s.value(); return err }); err != nil {
			return value{}, err
		}
		return value{raw: s.data[start:s.pos], kind: kindObject}, nil
	case '[':
		return s.array()
	case 't':
		return s.literal("true", kindBool)
	case 'f':
		return s.literal("false", kindBool)
	case 'n':
		return s.literal("null", kindNull)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return s.number()
	}
	return value{}, s.failChar("looking for beginning of value")
}

func (s *scanner) array() (value, error) {
	start := s.pos
	if s.depth++; s.depth > maxDepth {
		return value{}, s.fail("exceeded max depth")
	}
	s.pos++ // '['
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return value{raw: s.data[start:s.pos], kind: kindArray}, nil
	}
	for {
		if _, err := s.value(); err != nil {
			return value{}, err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return value{raw: s.data[start:s.pos], kind: kindArray}, nil
		default:
			return value{}, s.failChar("after array element")
		}
	}
}

// members scans an object starting at '{'. For each member it passes the key
// (still escaped; esc tells whether it has escapes) to fn, which must scan
// the member's value.
func (s *scanner) members(fn func(key []byte, esc bool) error) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail("exceeded max depth")
	}
	s.pos++ // '{'
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.failChar("looking for beginning of object key string")
		}
		k, err := s.str()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.failChar("after object key")
		}
		s.pos++
		if err := fn(k.content(), k.esc); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.failChar("after object key:value pair")
		}
	}
}

// unquote appends the decoded text of a string value to dst. The value must
// have come from the scanner, so its escapes are known to be well formed.
// Lone surrogates decode to U+FFFD, as in encoding/json.
func unquote(dst []byte, v value) []byte {
	c := v.content()
	if !v.esc {
		return append(dst, c...)
	}
	for i := 0; i < len(c); {
		b := c[i]
		if b != '\\' {
			dst = append(dst, b)
			i++
			continue
		}
		i++
		switch c[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(c[i+1:])
			i += 4
			if r >= 0xD800 && r < 0xDC00 {
				// A high surrogate counts only when a low one follows.
				if i+6 < len(c) && c[i+1] == '\\' && c[i+2] == 'u' {
					if r2 := hex4(c[i+3:]); r2 >= 0xDC00 && r2 < 0xE000 {
						r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
						i += 6
					}
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, c[i])
		}
		i++
	}
	return dst
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// equals reports whether string value v decodes to exactly s.
func equals(v value, s string) bool {
	if v.kind != kindString {
		return false
	}
	if !v.esc {
		return string(v.content()) == s
	}
	var buf [64]byte
	return string(unquote(buf[:0], v)) == s
}
