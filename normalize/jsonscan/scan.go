// Package jsonscan is a strict, single-pass JSON Scanner (RFC 8259, UTF-8
// only). It validates every byte it passes over and hands back values as
// spans of the input, so callers can copy strings into their output, or
// records into a message, without decoding and re-encoding them.
// FuzzScanner checks it against encoding/json.Valid.
//
// It is a public package on purpose: the normalizer and the connector's
// Duo decoders share it, and it is useful on its own.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

// Kind is the JSON type of a scanned value.
type Kind uint8

const (
	None Kind = iota // not present
	Null
	Bool
	Number
	String
	Array
	Object
)

// Value is one scanned JSON value: its exact text in the input.
type Value struct {
	Raw  []byte // the value's JSON text; for strings, including the quotes
	Kind Kind
	Esc  bool // a string with at least one escape sequence
}

// Present reports whether v counts as set: not missing,
// not null, not "", not [] (and not {}).
func (v Value) Present() bool {
	switch v.Kind {
	case None, Null:
		return false
	case String, Array, Object:
		return len(v.Raw) > 2
	}
	return true
}

// Text returns a string value's decoded text: the input itself when it
// has no escapes, else decoded into scratch.
func (v Value) Text(scratch []byte) []byte {
	if !v.Esc {
		return v.Content()
	}
	return Unquote(scratch, v)
}

// Content returns a string value's text between the quotes, still escaped.
func (v Value) Content() []byte { return v.Raw[1 : len(v.Raw)-1] }

var kindNames = [...]string{
	None: "nothing", Null: "null", Bool: "boolean", Number: "number",
	String: "string", Array: "array", Object: "object",
}

// SyntaxError says where and why the input stopped being JSON.
type SyntaxError struct {
	Msg    string
	Offset int
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Scanner walks one JSON text.
type Scanner struct {
	data  []byte
	pos   int
	depth int
}

func (s *Scanner) Reset(data []byte) {
	s.data, s.pos, s.depth = data, 0, 0
}

func (s *Scanner) fail(msg string) error {
	return &SyntaxError{Msg: msg, Offset: s.pos}
}

func (s *Scanner) failChar(context string) error {
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

func (s *Scanner) skipSpace() {
	// Inlined: most calls find no space at all (Duo sends compact JSON).
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return
	}
	s.skipSomeSpace()
}

func (s *Scanner) skipSomeSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// End checks that nothing but white space follows the top-level value.
func (s *Scanner) End() error {
	s.skipSpace()
	if s.pos != len(s.data) {
		return s.failChar("after top-level value")
	}
	return nil
}

// Peek returns the next non-space byte, or 0 at the end of input.
func (s *Scanner) Peek() byte {
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
func (s *Scanner) str() (Value, error) {
	start := s.pos
	s.pos++ // opening quote
	esc := false
	data := s.data
	for {
		i := SafeRun(data, s.pos)
		s.pos = i
		if i >= len(data) {
			return Value{}, s.fail("unexpected end of input in string")
		}
		switch c := data[i]; {
		case c == '"':
			s.pos++
			return Value{Raw: data[start:s.pos], Kind: String, Esc: esc}, nil
		case c == '\\':
			esc = true
			if err := s.escape(); err != nil {
				return Value{}, err
			}
		case c < 0x20:
			return Value{}, s.fail(fmt.Sprintf("control character 0x%02x in string", c))
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return Value{}, s.fail("invalid UTF-8 in string")
			}
			s.pos += size
		}
	}
}

// SafeRun returns the index of the first byte of b, from i on, that a
// JSON string cannot hold as it is: a quote, a backslash, a control
// character or a non-ASCII byte (which needs UTF-8 checking); len(b) when
// there is none. It looks at eight bytes at a time: the loop that every
// string of every record goes through.
func SafeRun(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^(ones*'"'), x^(ones*'\\')
		// Any byte below 0x20, equal to '"' or '\\', or with its high bit
		// set (the classic has-less and has-zero tests, exact as to
		// whether there is one).
		if ((x-ones*0x20)&^x|(q-ones)&^q|(bs-ones)&^bs|x)&highs != 0 {
			break
		}
	}
	for i < len(b) && strSafe[b[i]] {
		i++
	}
	return i
}

func (s *Scanner) escape() error {
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

func (s *Scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

func (s *Scanner) number() (Value, error) {
	start := s.pos
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos < len(s.data) && s.data[s.pos] == '0' {
		s.pos++
	} else if s.digits() == 0 {
		return Value{}, s.failChar("in numeric literal")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return Value{}, s.failChar("after decimal point in numeric literal")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return Value{}, s.failChar("in exponent of numeric literal")
		}
	}
	return Value{Raw: s.data[start:s.pos], Kind: Number}, nil
}

func (s *Scanner) literal(word string, k Kind) (Value, error) {
	start := s.pos
	for i := 0; i < len(word); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != word[i] {
			return Value{}, s.failChar("in literal " + word)
		}
		s.pos++
	}
	return Value{Raw: s.data[start:s.pos], Kind: k}, nil
}

// Value scans any JSON value. Objects and arrays are validated and returned
// whole; callers that need their members use members instead.
func (s *Scanner) Value() (Value, error) {
	switch s.Peek() {
	case '"':
		return s.str()
	case '{':
		start := s.pos
		if err := s.Members(func([]byte, bool) error { _, err := s.Value(); return err }); err != nil {
			return Value{}, err
		}
		return Value{Raw: s.data[start:s.pos], Kind: Object}, nil
	case '[':
		return s.array()
	case 't':
		return s.literal("true", Bool)
	case 'f':
		return s.literal("false", Bool)
	case 'n':
		return s.literal("null", Null)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return s.number()
	}
	return Value{}, s.failChar("looking for beginning of value")
}

func (s *Scanner) array() (Value, error) {
	start := s.pos
	if err := s.Elements(func() error { _, err := s.Value(); return err }); err != nil {
		return Value{}, err
	}
	return Value{Raw: s.data[start:s.pos], Kind: Array}, nil
}

// Members scans an object starting at '{'. For each member it passes the key
// (still escaped; esc tells whether it has escapes) to fn, which must scan
// the member's value.
func (s *Scanner) Members(fn func(key []byte, esc bool) error) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail("exceeded max depth")
	}
	s.pos++ // '{'
	if s.Peek() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if s.Peek() != '"' {
			return s.failChar("looking for beginning of object key string")
		}
		k, err := s.str()
		if err != nil {
			return err
		}
		if s.Peek() != ':' {
			return s.failChar("after object key")
		}
		s.pos++
		if err := fn(k.Content(), k.Esc); err != nil {
			return err
		}
		switch s.Peek() {
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

// Unquote appends the decoded text of a string value to dst. The value must
// have come from the Scanner, so its escapes are known to be well formed.
// Lone surrogates decode to U+FFFD, as in encoding/json.
func Unquote(dst []byte, v Value) []byte {
	c := v.Content()
	if !v.Esc {
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

// Equal reports whether string value v decodes to exactly s.
func Equal(v Value, s string) bool {
	if v.Kind != String {
		return false
	}
	if !v.Esc {
		return string(v.Content()) == s
	}
	var buf [64]byte
	return string(Unquote(buf[:0], v)) == s
}

// Skip passes over the next value, finding its end by its quotes and
// brackets alone, and returns its text: what is inside is not checked. It
// is for a caller that validates the value later anyway (or never reads
// it), so that a large value is not checked twice. A value cut short is
// still an error.
func (s *Scanner) Skip() ([]byte, error) {
	s.skipSpace()
	start, data := s.pos, s.data
	if start >= len(data) {
		return nil, s.fail("unexpected end of input")
	}
	depth := 0
	for i := start; i < len(data); {
		switch c := data[i]; c {
		case '"':
			end := skipString(data, i+1)
			if end < 0 {
				s.pos = len(data)
				return nil, s.fail("unexpected end of input in string")
			}
			i = end
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
			if depth < 0 {
				s.pos = i - 1
				return nil, s.failChar("")
			}
		default:
			i++
			if depth == 0 && (i >= len(data) || isDelim(data[i])) {
				s.pos = i
				return data[start:i], nil
			}
			continue
		}
		if depth == 0 {
			s.pos = i
			return data[start:i], nil
		}
	}
	s.pos = len(data)
	return nil, s.fail("unexpected end of input")
}

// skipString returns the index just past the string whose text starts at
// i (after its opening quote), or -1 when it does not end.
func skipString(data []byte, i int) int {
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return -1
		}
		j += i
		// Escaped when an odd number of backslashes precede it.
		n := 0
		for k := j - 1; k >= i && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		i = j + 1
	}
}

func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':'
}

// Into scans a value, storing it in dst when dst is not nil.
func (s *Scanner) Into(dst *Value) error {
	v, err := s.Value()
	if dst != nil {
		*dst = v
	}
	return err
}

// Elements scans an array starting at '['; for each element it calls fn,
// which must scan the element.
func (s *Scanner) Elements(fn func() error) error {
	if s.depth++; s.depth > maxDepth {
		return s.fail("exceeded max depth")
	}
	s.pos++ // '['
	if s.Peek() == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.Peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.failChar("after array element")
		}
	}
}

// Key returns an object key's decoded text; keys without escapes (all of
// Duo's) are returned as they are, without a copy.
func Key(key []byte, esc bool) []byte {
	if !esc {
		return key
	}
	return Unquote(nil, Value{Raw: append(append([]byte{'"'}, key...), '"'), Kind: String, Esc: true})
}

// String returns the kind's name.
func (k Kind) String() string { return kindNames[k] }
