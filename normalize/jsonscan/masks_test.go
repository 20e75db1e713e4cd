package jsonscan

import (
	"fmt"
	"strings"
	"testing"
)

// classify says which masks byte c belongs to.
func classify(c byte) (stop, space bool) {
	return c < 0x20 || c == '"' || c == '\\' || c >= 0x80, c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// bytewise is the reference for Masks: classify, one byte at a time.
func bytewise(s []byte) Masks {
	m := newMasks(len(s))
	for i, c := range s {
		stop, space := classify(c)
		if stop {
			m.Stop[i/64] |= 1 << (i % 64)
		}
		if space {
			m.Space[i/64] |= 1 << (i % 64)
		}
	}
	return m
}

// newMasks returns zeroed masks for n bytes.
func newMasks(n int) Masks { return Masks{make([]uint64, wordsFor(n)), make([]uint64, wordsFor(n))} }

func (m Masks) String() string { return fmt.Sprintf("stop %x space %x", m.Stop, m.Space) }

func checkMasks(t *testing.T, s []byte) {
	t.Helper()
	if masksFast {
		// Over stale words: what Find leaves must not depend on what
		// they held.
		m := newMasks(len(s))
		for i := range m.Stop {
			m.Stop[i], m.Space[i] = ^uint64(0), ^uint64(0)
		}
		m.Find(s)
		if got, want := m.String(), bytewise(s).String(); got != want {
			t.Fatalf("Find(%q) = %s, want %s", s, got, want)
		}
	}
	// Each way of making whole blocks, the Go fallback among them (into
	// zeroed masks: the bits past the blocks are Find's to clear).
	n := len(s) &^ 31
	want := bytewise(s[:n]).String()
	for name, blocks := range blockFuncs() {
		b := newMasks(n)
		blocks(b.Stop, b.Space, s[:n])
		if got := b.String(); got != want {
			t.Fatalf("%s(%q) = %s, want %s", name, s[:n], got, want)
		}
	}
}

// FuzzMasks: the assembly (each kind the CPU runs) and the Go fallback set exactly the bits that
// classify gives, byte by byte, whatever the length.
func FuzzMasks(f *testing.F) {
	for _, s := range []string{"", "a", `{"a": "b\\c"}` + "\n\t\r", "0123456789abcdef\"", "\x00\x1f\x20\x7f\x80\xff\"\\", strings.Repeat("a", 48), "é日本😀 \u2028"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) { checkMasks(t, s) })
}

// TestMasksEveryPosition puts each byte class at every position of every
// length up to past two words, among the neighbours of the classes.
func TestMasksEveryPosition(t *testing.T) {
	const neighbours = "!#[]\x1e\x7f\x80\xff\x08\x0b\x0c\x0e\x1f\x21x"
	for n := 0; n <= 130; n += 1 + n/40 {
		for _, c := range []byte{'"', '\\', 0, '\n', '\t', '\r', ' ', 0x1f, 0x80, 0xff} {
			for p := 0; p < n; p++ {
				s := make([]byte, n)
				for i := range s {
					s[i] = neighbours[i%len(neighbours)]
				}
				s[p] = c
				checkMasks(t, s)
			}
		}
	}
}

func BenchmarkMasks(b *testing.B) {
	s := make([]byte, 1847)
	const line = "  \"key\": \"value\",\n"
	for i := range s {
		s[i] = line[i%len(line)]
	}
	var m Masks
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		m.Find(s)
	}
}
