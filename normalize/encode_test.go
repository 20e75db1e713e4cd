package normalize

import (
	"encoding/json"
	"testing"
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
