package normalize

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestLines: one document per non-blank line, in order, CRLF and a last
// line without newline read as lines, a line over MaxLine cut (not held)
// and published with error.message, a line that is not JSON published
// with its error.
func TestLines(t *testing.T) {
	n, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := `{"username":"` + strings.Repeat("x", 300) + `"}`
	in := "{\"username\":\"a\"}\r\n\n  \n{\"username\":\"b\"}\nnot json\n" + long + "\n{\"username\":\"c\"}"
	var out bytes.Buffer
	l := NewLines(n, &out)
	l.MaxLine = 200
	var bad []int
	l.OnMalformed = func(name string, line int, err error) {
		if name != "in" {
			t.Errorf("name %q", name)
		}
		bad = append(bad, line)
	}
	if err := l.Copy("in", strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if l.Records != 5 || l.Malformed != 2 || len(bad) != 2 || bad[0] != 5 || bad[1] != 6 {
		t.Fatalf("records %d malformed %d at lines %v; want 5, 2 at [5 6]", l.Records, l.Malformed, bad)
	}
	docs := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(docs) != 5 {
		t.Fatalf("%d documents, want 5", len(docs))
	}
	for i, want := range []string{"a", "b", "", "", "c"} {
		var d struct {
			Message string
			Error   struct{ Message string }
		}
		if err := json.Unmarshal([]byte(docs[i]), &d); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if raw := `{"username":"` + want + `"}`; want != "" && d.Message != raw {
			t.Errorf("document %d: message %q, want %q", i, d.Message, raw)
		}
		if (want == "") != (d.Error.Message != "") {
			t.Errorf("document %d: error.message %q", i, d.Error.Message)
		}
		if strings.Contains(d.Message, "\r") {
			t.Errorf("document %d kept the CR: %q", i, d.Message)
		}
	}
	if !strings.Contains(docs[3], "longer than the limit of 200 bytes") || len(docs[3]) > 2048 {
		t.Errorf("long line's document: %.200s", docs[3])
	}
}
