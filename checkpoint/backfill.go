package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Backfill describes one backfill: the range as the user gave it and as it
// was resolved when the backfill began, and which logs have finished. It
// is kept beside the backfill's cursors, so that rerunning the same command
// (even "--since 30d", which means another instant every time) continues
// the same backfill instead of starting a new one.
type Backfill struct {
	// Name identifies the backfill (its cursors' Scope).
	Name string `json:"name"`
	// Range is the range as given on the command line.
	Range string `json:"range"`
	// Since and Until are the range as resolved when the backfill began.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Created is when the backfill began.
	Created time.Time `json:"created"`
	// Logs are the logs (by account, as Finished names them) the backfill
	// reads: a log reset is pending again, not forgotten.
	Logs []string `json:"logs,omitempty"`
	// Finished holds, per log type, when the backfill delivered the whole
	// range of that log.
	Finished map[string]time.Time `json:"finished,omitempty"`
}

// BackfillStore keeps backfills' descriptions beside their cursors: the
// state directory (FileStore) or, for stateless one-shot runs, the state
// topic (kafkastore.Store).
type BackfillStore interface {
	Store
	// LoadBackfill returns the backfill named name; ok is false when
	// there is none.
	LoadBackfill(ctx context.Context, name string) (b Backfill, ok bool, err error)
	// SaveBackfill writes b, durably.
	SaveBackfill(ctx context.Context, b Backfill) error
	// DeleteBackfill removes a backfill: its description and its cursors.
	DeleteBackfill(ctx context.Context, name string) error
	// BackfillExists reports whether the backfill named name has cursors,
	// a description, or both.
	BackfillExists(ctx context.Context, name string) (bool, error)
	// Backfills returns every backfill, oldest first; one without a
	// description (made by an older version) by name alone.
	Backfills(ctx context.Context) ([]Backfill, error)
}

// DecodeBackfill reads the description of the backfill named name, kept
// at where: anything else is a *CorruptError.
func DecodeBackfill(data []byte, name, where string) (Backfill, error) {
	var b Backfill
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Name != name || b.Since.IsZero() || !b.Since.Before(b.Until) {
		if err == nil {
			err = errors.New("name or range missing")
		}
		return Backfill{}, &CorruptError{Path: where, Key: Key{Scope: name}, Reason: fmt.Errorf("not a backfill description: %w", err)}
	}
	return b, nil
}

// SortBackfills orders backfills oldest first (by name when as old).
func SortBackfills(bs []Backfill) {
	sort.Slice(bs, func(i, j int) bool {
		if !bs[i].Created.Equal(bs[j].Created) {
			return bs[i].Created.Before(bs[j].Created)
		}
		return bs[i].Name < bs[j].Name
	})
}

// backfillFile is the file, in a backfill's directory, that describes it.
// Its name does not end in .json, so it is never taken for a cursor.
const backfillFile = "backfill.manifest"

func (s *FileStore) backfillDir(name string) string {
	return filepath.Dir(FilePath(s.dir, Key{Account: "x", Log: "x", Scope: name}))
}

// LoadBackfill returns the backfill named name; ok is false when there is
// none.
func (s *FileStore) LoadBackfill(_ context.Context, name string) (Backfill, bool, error) {
	path := filepath.Join(s.backfillDir(name), backfillFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Backfill{}, false, nil
	}
	if err != nil {
		return Backfill{}, false, fmt.Errorf("backfill %s: %w", name, err)
	}
	b, err := DecodeBackfill(data, name, path)
	return b, err == nil, err
}

// SaveBackfill writes b, atomically and durably.
func (s *FileStore) SaveBackfill(_ context.Context, b Backfill) error {
	if s.readOnly {
		return errReadOnly
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := s.writeFileAtomic(filepath.Join(s.backfillDir(b.Name), backfillFile), append(data, '\n')); err != nil {
		return fmt.Errorf("save backfill %s: %w", b.Name, err)
	}
	return nil
}

// BackfillExists reports whether the backfill named name has a directory
// (cursors, a description, or both).
func (s *FileStore) BackfillExists(_ context.Context, name string) (bool, error) {
	fi, err := os.Stat(s.backfillDir(name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil && fi.IsDir(), err
}

// DeleteBackfill removes a backfill: its description and its cursors.
func (s *FileStore) DeleteBackfill(_ context.Context, name string) error {
	if s.readOnly {
		return errReadOnly
	}
	dir := s.backfillDir(name)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete backfill %s: %w", name, err)
	}
	return syncDir(filepath.Dir(dir))
}

// Backfills returns every backfill in the state directory, oldest first.
// A backfill directory without a description (made by an older version)
// is listed by name alone.
func (s *FileStore) Backfills(ctx context.Context) ([]Backfill, error) {
	dirs, _ := filepath.Glob(filepath.Join(s.dir, "backfill", "*"))
	var names []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			names = append(names, filepath.Base(d))
		}
	}
	return LoadBackfills(ctx, names, s.LoadBackfill)
}

// LoadBackfills loads the descriptions of the backfills named, oldest
// first; one without a description is listed by name alone, one that
// cannot be read is left out and its error returned.
func LoadBackfills(ctx context.Context, names []string, load func(context.Context, string) (Backfill, bool, error)) ([]Backfill, error) {
	var out []Backfill
	var errs []error
	for _, name := range names {
		b, ok, err := load(ctx, name)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case !ok:
			b = Backfill{Name: name}
		}
		out = append(out, b)
	}
	SortBackfills(out)
	return out, errors.Join(errs...)
}
