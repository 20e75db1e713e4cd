package checkpoint

import (
	"errors"
	"testing"
)

// FuzzDecodeBackfill: a backfill description read from a file or the
// state topic is the backfill named, with a range, or a *CorruptError
// naming it: never a panic, never a description of another backfill.
func FuzzDecodeBackfill(f *testing.F) {
	f.Add([]byte(`{"name":"30d_ago-now","range":"--since 30d","since":"2026-11-01T00:00:00Z","until":"2026-12-01T00:00:00Z","created":"2026-12-01T00:00:00Z","logs":["auth"],"finished":{"auth":"2026-12-01T01:00:00Z"}}`), "30d_ago-now")
	f.Add([]byte(`{"name":"x","since":"2026-12-01T00:00:00Z","until":"2026-11-01T00:00:00Z"}`), "x")
	f.Add([]byte(`{"name":"x","extra":1}`), "x")
	f.Add([]byte(`null`), "")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		b, err := DecodeBackfill(data, name, "where")
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Key.Scope != name || ce.Path != "where" {
				t.Fatalf("error %v is not a CorruptError of backfill %q at where", err, name)
			}
			return
		}
		if b.Name != name || b.Since.IsZero() || !b.Since.Before(b.Until) {
			t.Fatalf("decoded %+v for backfill %q", b, name)
		}
	})
}
