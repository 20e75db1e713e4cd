package jsonscan

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// scanValid reports whether the scanner accepts data as one JSON text.
func scanValid(t *testing.T, data []byte) bool {
	t.Helper()
	scan := func(s *Scanner) string {
		if _, err := s.Value(); err != nil {
			return err.Error()
		}
		if err := s.End(); err != nil {
			return err.Error()
		}
		return ""
	}
	var s Scanner
	s.Reset(data)
	return scan(&s) == ""
}

func TestScannerAgreesWithStdlib(t *testing.T) {
	for _, in := range scannerSeeds {
		want := json.Valid([]byte(in)) && utf8.ValidString(in)
		if got := scanValid(t, []byte(in)); got != want {
			t.Errorf("scanValid(%q) = %v, want %v", in, got, want)
		}
	}
}

var scannerSeeds = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `-`, `1.`, `1.5e`, `1.5e+3`, `1E-2`, `.5`, `+1`,
	`true`, `tru`, `nul`, `null `, ` {"a":1} `, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{a:1}`,
	`"\u00e9"`, `"\uD83D\uDE00"`, `"\uD800"`, `"\u12"`, `"\x"`, `"a\/b"`, "\"\x01\"", "\"\t\"",
	"\"\xff\"", "\"\xed\xa0\x80\"", `"é"`, `{"a":[{"b":null}],"c":"d"}`, `[1 2]`, `{"a":1}{}`,
	"\xef\xbb\xbf{}", `{"":""}`, `[[[[[]]]]]`, `"\u0000"`, `1e400`, `{"a":"b"`, `[`, `"abc`,
}

// FuzzScanner checks the scanner accepts exactly what encoding/json does,
// less invalid UTF-8 (which RFC 8259 forbids and encoding/json tolerates).
func FuzzScanner(f *testing.F) {
	for _, s := range scannerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := json.Valid(data) && utf8.Valid(data)
		if got := scanValid(t, data); got != want {
			t.Fatalf("scanValid(%q) = %v, encoding/json says %v", data, got, want)
		}
	})
}

func TestUnquote(t *testing.T) {
	for _, in := range []string{
		`"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u20ac"`, `"\uD83D\uDE00"`,
		`"\uD800x"`, `"\uDC00"`, `"\uD800\u0041"`, `"\uD800\uD800\uDC00"`, `"tail\uD83D"`,
	} {
		var s Scanner
		s.Reset([]byte(in))
		v, err := s.Value()
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got := string(Unquote(nil, v)); got != want {
			t.Errorf("Unquote(%s) = %q, want %q", in, got, want)
		}
	}
}

// TestSafeRun checks the eight-bytes-at-a-time run against the byte table
// for every byte value at every position of a word.
func TestSafeRun(t *testing.T) {
	for c := range 256 {
		for pos := range 12 {
			b := []byte("abcdefghijklmnopqrstuvwx")
			b[pos] = byte(c)
			want := 0
			for want < len(b) && strSafe[b[want]] {
				want++
			}
			if got := SafeRun(b, 0); got != want {
				t.Fatalf("byte %#x at %d: SafeRun = %d, want %d", c, pos, got, want)
			}
		}
	}
}

// FuzzSafeRun: on any bytes (several special ones in a word among them),
// SafeRun stops where the byte table does.
func FuzzSafeRun(f *testing.F) {
	f.Add([]byte("ab\"\x01cdefgh\\ij\xffk"), 0)
	f.Add([]byte("\x7f\x80\x1f\x20\"\"\"\"\"\"\"\"\""), 3)
	f.Fuzz(func(t *testing.T, b []byte, from int) {
		if from < 0 || from > len(b) {
			return
		}
		want := from
		for want < len(b) && strSafe[b[want]] {
			want++
		}
		if got := SafeRun(b, from); got != want {
			t.Fatalf("SafeRun(%q, %d) = %d, want %d", b, from, got, want)
		}
	})
}

// TestSkip: on valid JSON, Skip finds the same value as Value; cut short,
// it fails.
func TestSkip(t *testing.T) {
	for _, in := range []string{
		`{"a":[1,2,{"b":"x\"}]\\"}],"c":null}`, ` "str\\\\" `, `123.5e3`, `true`, `[]`, `{}`,
		`{"k":"é ünïcode","n":[[],[[]]]}`, `"\\\"quoted\\\""`,
	} {
		var a, b Scanner
		a.Reset([]byte(in))
		b.Reset([]byte(in))
		v, err := a.Value()
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		raw, err := b.Skip()
		if err != nil || string(raw) != string(v.Raw) {
			t.Errorf("Skip(%s) = %q, %v; Value gives %q", in, raw, err, v.Raw)
		}
	}
	for _, in := range []string{`{"a":1`, `"open`, `[1,2`, `{"a":"x\"}`} {
		var s Scanner
		s.Reset([]byte(in))
		if _, err := s.Skip(); err == nil {
			t.Errorf("Skip(%s): no error for a value cut short", in)
		}
	}
}

func FuzzSkip(f *testing.F) {
	f.Add([]byte(`{"a":[1,"b\"",{}]}`))
	f.Add([]byte(`["\\\"x\\", "é\u00e9", {"k": "\x01"}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var plain Scanner
		plain.Reset(in)
		raw, skipErr := plain.Skip()
		var a Scanner
		a.Reset(in)
		v, err := a.Value()
		if err != nil || a.End() != nil {
			return // only whole documents: Skip does not check a value's text
		}
		if skipErr != nil || string(raw) != string(v.Raw) {
			t.Fatalf("Skip(%q) = %q, %v; Value gives %q", in, raw, skipErr, v.Raw)
		}
	})
}
