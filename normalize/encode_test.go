package normalize

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendQuoted(t *testing.T) {
	for _, in := range []string{"", "plain", "quote\" back\\ slash", "ctl\x00\x01\x1f\n\r\t", "é日本😀", "bad\xffutf8\xed\xa0\x80", "\u2028"} {
		out := appendQuoted(nil, []byte(in))
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("appendQuoted(%q) = %s: not JSON: %v", in, out, err)
		}
		if want := string([]rune(in)); got != want { // []rune maps invalid bytes to U+FFFD
			t.Errorf("appendQuoted(%q) decodes to %q, want %q", in, got, want)
		}
	}
}

// FuzzAppendQuotedUTF8: on valid UTF-8, the word-at-a-time quoting of
// messages is byte for byte the general one.
func FuzzAppendQuotedUTF8(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ slash", "ctl\x00\x01\x1f\n\r\t", "é日本😀", "\u2028", `{"a":"b\"c","d":[1,2,{"e":null}]}`, "0123456\"", "01234567\x7f\x80", "\t\n\r\"\\\x19\x1a\x1d\x29\x2a\x2d\x89\x8a\x8d"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		if !utf8.Valid(s) {
			t.Skip()
		}
		want := appendQuoted(nil, s)
		// Room to spare in dst, or none: the growth path is the same.
		for _, dst := range [][]byte{nil, make([]byte, 3, 3+len(s)*2)} {
			buf := make([]byte, len(dst), cap(dst))
			if got := appendQuotedUTF8(buf, s)[len(dst):]; string(got) != string(want) {
				t.Fatalf("appendQuotedUTF8(%q) = %q, want %q", s, got, want)
			}
		}
	})
}

// FuzzAppendQuoted: any bytes quote to a JSON string that decodes to the
// text, each invalid byte as U+FFFD, and escapes every control character.
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ slash", "ctl\x00\x01\x1f\n\r\t", "é日本😀", "bad\xffutf8\xed\xa0\x80", "\u2028"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		out := appendQuoted(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("appendQuoted(%q) = %s: not JSON: %v", s, out, err)
		}
		if want := string([]rune(string(s))); got != want {
			t.Fatalf("appendQuoted(%q) decodes to %q, want %q", s, got, want)
		}
		for _, c := range out {
			if c < 0x20 {
				t.Fatalf("appendQuoted(%q) = %q: a raw control character", s, out)
			}
		}
	})
}
