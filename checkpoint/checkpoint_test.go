package checkpoint_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/duo-connector/duo-connector/checkpoint"
)

var ctx = context.Background()

func open(t *testing.T, dir string) *checkpoint.FileStore {
	t.Helper()
	s, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	auth := checkpoint.Key{Account: "api-x.duosecurity.com", Log: "auth"}
	if _, ok, err := s.Load(ctx, auth); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	for i := range 5 {
		c := `{"mintime_ms":` + strconv.Itoa(1700000000000+i) + `}`
		if err := s.Save(ctx, auth, []byte(c)); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Load(ctx, auth)
		if err != nil || !ok || string(got) != c {
			t.Fatalf("Load = %s, %v, %v; want %s", got, ok, err, c)
		}
	}
	backfill := checkpoint.Key{Account: "api-x.duosecurity.com", Log: "auth", Scope: "2026-01-01_2026-02-01"}
	if _, ok, _ := s.Load(ctx, backfill); ok {
		t.Fatal("a backfill sees the daemon's cursor")
	}
	s.Save(ctx, backfill, []byte(`{"mintime_ms":1}`))
	entries, err := s.List(true)
	if err != nil || len(entries) != 2 {
		t.Fatalf("List = %v, %v", entries, err)
	}
	daemonOnly, _ := s.List(false)
	if len(daemonOnly) != 1 || daemonOnly[0].Key != auth {
		t.Fatalf("List(false) = %+v", daemonOnly)
	}
	// No temporary files are left behind.
	files, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if len(files) != 0 {
		t.Fatalf("temporary files left: %v", files)
	}
	if err := s.Delete(ctx, auth); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Load(ctx, auth); ok {
		t.Fatal("cursor still there after Delete")
	}
}

// TestCorruptCursorIsAnError: a damaged file is never taken for "no
// cursor"; the error names the file and the reset command.
func TestCorruptCursorIsAnError(t *testing.T) {
	key := checkpoint.Key{Account: "api-x.duosecurity.com", Log: "admin"}
	for name, content := range map[string]string{
		"truncated":     `{"version":1,"account":"api-x.duosecurity.com","log":"admin","cursor":{"mint`,
		"null cursor":   `{"version":1,"account":"api-x.duosecurity.com","log":"admin","cursor":null}`,
		"empty":         ``,
		"null":          `null`,
		"other version": `{"version":7,"account":"api-x.duosecurity.com","log":"admin","cursor":{}}`,
		"other key":     `{"version":1,"account":"api-y.duosecurity.com","log":"admin","cursor":{}}`,
		"garbage":       "\x00\x01binary",
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t, t.TempDir())
			if err := os.WriteFile(s.Path(key), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, ok, err := s.Load(ctx, key)
			var ce *checkpoint.CorruptError
			if ok || !errors.As(err, &ce) {
				t.Fatalf("Load = ok %v, err %v; want a CorruptError", ok, err)
			}
			for _, w := range []string{s.Path(key), "duo-connector checkpoint reset --logs admin"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestExclusiveLock: a second store on the same directory is refused with
// the holder's PID, and allowed once the first is closed.
func TestExclusiveLock(t *testing.T) {
	dir := t.TempDir()
	s, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = checkpoint.Open(dir)
	var le *checkpoint.LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Open: %v; want a LockedError naming pid %d", err, os.Getpid())
	}
	s.Close()
	s2, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestConcurrentSaves: saves of different keys from many goroutines all
// land, each file whole.
func TestConcurrentSaves(t *testing.T) {
	s := open(t, t.TempDir())
	var wg sync.WaitGroup
	for _, log := range []string{"auth", "admin", "offline", "telephony"} {
		wg.Go(func() {
			for i := range 50 {
				if err := s.Save(ctx, checkpoint.Key{Account: "a", Log: log}, []byte(`{"mintime":`+strconv.Itoa(i)+`}`)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	entries, err := s.List(false)
	if err != nil || len(entries) != 4 {
		t.Fatalf("List = %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if string(e.Cursor) != `{"mintime":49}` {
			t.Errorf("%s: %s", e.Key, e.Cursor)
		}
	}
}

// TestListNamesDamagedCursors: a file too damaged to say whose cursor it
// holds is named from its path, so the hint resets exactly it.
func TestListNamesDamagedCursors(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	daemon := checkpoint.Key{Account: "api-x", Log: "auth"}
	backfill := checkpoint.Key{Account: "api-x", Log: "admin", Scope: "30d_ago-now"}
	for _, k := range []checkpoint.Key{daemon, backfill} {
		if err := s.Save(ctx, k, []byte(`{"mintime":1763600000}`)); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(s.Path(k), []byte("garbage"), 0o600)
	}
	_, err := s.List(true)
	for _, want := range []string{
		"checkpoint reset --logs auth --yes",
		"checkpoint reset --backfill 30d_ago-now --logs admin --yes --account api-x --config",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("List error lacks %q: %v", want, err)
		}
	}
}
