package kafkastore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/duo-connector/duo-connector/checkpoint"
)

var _ checkpoint.BackfillStore = (*Store)(nil)

// A backfill's description is a record beside its cursors: its key is
// the backfill's scope with no account and no log, its value a cursor
// document whose cursor is the description. The methods below read what
// the last Restore found (a one-shot run restores every partition first).

// descriptionKey is the key of the description of the backfill name.
func descriptionKey(name string) checkpoint.Key { return checkpoint.Key{Scope: name} }

// isDescription reports a key that names a backfill's description, not
// a cursor.
func isDescription(k checkpoint.Key) bool { return k.Scope != "" && k.Account == "" && k.Log == "" }

// LoadBackfill returns the description of the backfill named name.
func (s *Store) LoadBackfill(_ context.Context, name string) (checkpoint.Backfill, bool, error) {
	key := descriptionKey(name)
	s.mu.Lock()
	e, ok := s.cursors[key]
	bad := s.bad[key]
	s.mu.Unlock()
	if bad != nil {
		return checkpoint.Backfill{}, false, bad
	}
	if !ok {
		return checkpoint.Backfill{}, false, nil
	}
	b, err := checkpoint.DecodeBackfill(e.Cursor, name, e.Path)
	return b, err == nil, err
}

// SaveBackfill writes b's description.
func (s *Store) SaveBackfill(ctx context.Context, b checkpoint.Backfill) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := s.Save(ctx, descriptionKey(b.Name), data); err != nil {
		return fmt.Errorf("save backfill %s: %w", b.Name, err)
	}
	return nil
}

// DeleteBackfill restores every partition and deletes the backfill's
// cursors and its description.
func (s *Store) DeleteBackfill(ctx context.Context, name string) error {
	if err := s.Restore(ctx, nil); err != nil {
		return err
	}
	for _, k := range s.keys(func(k checkpoint.Key) bool { return k.Scope == name && !isDescription(k) }) {
		if err := s.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete backfill %s: %w", name, err)
		}
	}
	// The description last: a deletion interrupted leaves it listed.
	if err := s.Delete(ctx, descriptionKey(name)); err != nil {
		return fmt.Errorf("delete backfill %s: %w", name, err)
	}
	return nil
}

// BackfillExists restores every partition and reports whether the
// backfill named name has cursors or a description.
func (s *Store) BackfillExists(ctx context.Context, name string) (bool, error) {
	if err := s.Restore(ctx, nil); err != nil {
		return false, err
	}
	return len(s.keys(func(k checkpoint.Key) bool { return k.Scope == name })) > 0, nil
}

// Backfills restores every partition and returns every backfill of the
// group, oldest first.
func (s *Store) Backfills(ctx context.Context) ([]checkpoint.Backfill, error) {
	if err := s.Restore(ctx, nil); err != nil {
		return nil, err
	}
	var names []string
	for _, k := range s.keys(func(k checkpoint.Key) bool { return k.Scope != "" }) {
		if !slices.Contains(names, k.Scope) {
			names = append(names, k.Scope)
		}
	}
	return checkpoint.LoadBackfills(ctx, names, s.LoadBackfill)
}

// keys are the keys restored (readable or not) that match.
func (s *Store) keys(match func(checkpoint.Key) bool) []checkpoint.Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []checkpoint.Key
	for k := range s.cursors {
		if match(k) {
			out = append(out, k)
		}
	}
	for k := range s.bad {
		if _, ok := s.cursors[k]; !ok && match(k) {
			out = append(out, k)
		}
	}
	return out
}
