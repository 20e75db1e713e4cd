package checkpoint

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// TestNewDirectoriesAreDurable: saving a backfill's first cursor creates
// two directories; each is made durable in its parent (fsync of the
// parent), as is the file in its own, so a crash cannot take the cursor
// back.
func TestNewDirectoriesAreDurable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var synced []string
	s.syncDir = func(d string) error {
		synced = append(synced, d)
		return syncDir(d)
	}
	key := Key{Account: "api-x", Log: "auth", Scope: "30d_ago-now"}
	if err := s.Save(context.Background(), key, []byte(`{"mintime_ms":1}`)); err != nil {
		t.Fatal(err)
	}
	scopeDir := filepath.Dir(s.Path(key))
	for _, want := range []string{dir, filepath.Join(dir, "backfill"), scopeDir} {
		if !slices.Contains(synced, want) {
			t.Errorf("%s was not synced (synced: %v)", want, synced)
		}
	}
}
