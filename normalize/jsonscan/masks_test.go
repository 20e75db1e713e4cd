package jsonscan

import (
	"fmt"
	"strings"
	"testing"
)

// bytewise is the reference for Masks: classify, one byte at a time.
func bytewise(s []byte) (esc, high, space []uint64) {
	esc, high, space = make([]uint64, MaskWords(len(s))), make([]uint64, MaskWords(len(s))), make([]uint64, MaskWords(len(s)))
	for i, c := range s {
		e, h, sp := classify(c)
		for _, m := range []struct {
			set  bool
			mask []uint64
		}{{e, esc}, {h, high}, {sp, space}} {
			if m.set {
				m.mask[i/64] |= 1 << (i % 64)
			}
		}
	}
	return esc, high, space
}

// stale is a Masks whose words are all ones: what Find leaves in them
// must not depend on what they held.
func stale(n int) *Masks {
	m := &Masks{}
	m.Find(make([]byte, n))
	for _, mask := range [][]uint64{m.Escape, m.NonASCII, m.Space} {
		for i := range mask {
			mask[i] = ^uint64(0)
		}
	}
	return m
}

func checkMasks(t *testing.T, s []byte) {
	t.Helper()
	esc, high, space := bytewise(s)
	want := fmt.Sprint(esc, high, space)
	m := stale(len(s))
	m.Find(s)
	if got := fmt.Sprint(m.Escape, m.NonASCII, m.Space); got != want {
		t.Fatalf("Find(%q) = %x, want %x", s, got, want)
	}
	// The Go fallback, on whole words.
	n := len(s) &^ 7
	g := stale(n)
	maskWords(g.Escape, g.NonASCII, g.Space, s[:n])
	esc, high, space = bytewise(s[:n])
	if got, want := fmt.Sprint(g.Escape, g.NonASCII, g.Space), fmt.Sprint(esc, high, space); got != want {
		t.Fatalf("maskWords(%q) = %x, want %x", s[:n], got, want)
	}
}

// FuzzMasks: the assembly and the Go fallback set exactly the bits that
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
