package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/fault"
)

// Selection chooses saved cursors: of these logs, of the account this
// names (see accounts.Named), of this backfill; empty fields choose all
// (the daemon's, for Backfill).
type Selection struct {
	Logs     []duo.LogType
	Account  string
	Backfill string
}

// CursorRow is one saved cursor, read (checkpoint show --json).
type CursorRow struct {
	// Name is the account's name in logs and metrics, when configured.
	Name      string          `json:"name,omitempty"`
	Account   string          `json:"account"`
	Log       string          `json:"log"`
	Scope     string          `json:"scope,omitempty"`
	Delivered time.Time       `json:"delivered_until"`
	Behind    string          `json:"lag"`
	Updated   time.Time       `json:"updated"`
	Path      string          `json:"path"`
	Cursor    json.RawMessage `json:"cursor"`
	Error     string          `json:"error,omitempty"`
}

// BackfillRow is one backfill and how far it is.
type BackfillRow struct {
	Name     string               `json:"name"`
	Range    string               `json:"range,omitempty"`
	Since    time.Time            `json:"since"`
	Until    time.Time            `json:"until"`
	Progress map[string]float64   `json:"progress"`
	Finished map[string]time.Time `json:"finished,omitempty"`
	Done     bool                 `json:"done"`
}

// State is what Show found.
type State struct {
	Cursors   []CursorRow
	Backfills []BackfillRow
	// Problems are the unreadable cursors, each with the command that
	// resets it.
	Problems []string
}

// Show reads the cursors sel chooses: how far each log delivered and how
// far behind it is (a backfill's behind its own end, not now); with
// backfills, the backfills too. err holds what could not be listed.
func Show(ctx context.Context, cfg config.Config, cursors Cursors, backfills checkpoint.BackfillStore, sel Selection, now time.Time) (State, error) {
	var st State
	entries, err := cursors.List(ctx)
	var described []checkpoint.Backfill
	if backfills != nil {
		var bfErr error
		described, bfErr = backfills.Backfills(ctx)
		err = errors.Join(err, bfErr)
	}
	byName := map[string]checkpoint.Backfill{}
	for _, b := range described {
		byName[b.Name] = b
	}
	if sel.Account != "" {
		if _, serr := accounts.Select(cfg.Accounts(), []string{sel.Account}); serr != nil && !slices.ContainsFunc(entries, func(en checkpoint.Entry) bool {
			return accounts.Named(nil, sel.Account, en.Key.Account)
		}) {
			return st, fault.Configf("no account %q is configured or has cursors ('checkpoint show' lists them)", sel.Account)
		}
	}
	want := map[string]bool{}
	for _, lt := range sel.Logs {
		want[string(lt)] = true
	}
	names := map[string]string{}
	for _, a := range cfg.Accounts() {
		names[a.Key()] = a.Label()
	}
	for _, en := range entries {
		if len(want) > 0 && !want[en.Key.Log] || !accounts.Named(cfg.Accounts(), sel.Account, en.Key.Account) {
			continue
		}
		row := CursorRow{Name: names[en.Key.Account], Account: en.Key.Account, Log: en.Key.Log, Scope: en.Key.Scope, Updated: en.Updated, Path: en.Path, Cursor: en.Cursor}
		c, perr := duolog.ParseCursor(en.Cursor)
		if perr != nil {
			row.Error = perr.Error()
			st.Problems = append(st.Problems, fmt.Sprintf("%s: %v; reset it with: %s", en.Path, perr, en.Key.ResetCommand()))
			st.Cursors = append(st.Cursors, row)
			continue
		}
		row.Delivered = c.Time().UTC()
		end := now
		if b, ok := byName[en.Key.Scope]; ok && en.Key.Scope != "" && !b.Until.IsZero() {
			end = b.Until
			if _, done := b.Finished[backfill.FinishedKey(cfg, en.Key.Account, duo.LogType(en.Key.Log))]; done {
				end = row.Delivered
			}
		}
		row.Behind = config.FormatDuration(max(end.Sub(row.Delivered), 0).Round(time.Second))
		st.Cursors = append(st.Cursors, row)
	}
	for _, b := range described {
		delivered := map[string]time.Time{}
		for _, row := range st.Cursors {
			if row.Scope == b.Name && !row.Delivered.IsZero() {
				delivered[backfill.FinishedKey(cfg, row.Account, duo.LogType(row.Log))] = row.Delivered
			}
		}
		bs := backfill.StatusOf(b, delivered, sel.Logs)
		st.Backfills = append(st.Backfills, BackfillRow{Name: b.Name, Range: b.Range, Since: b.Since, Until: b.Until, Finished: b.Finished, Progress: bs.Progress, Done: bs.Done})
	}
	return st, err
}

// Reset deletes the daemon's cursors of sel's logs, of sel's account (or
// the one configured), so that the next run starts initial_lookback
// ago; with sel.Backfill, that backfill's cursors of the logs (no longer
// finished), or the whole backfill when no log is named. reset is told
// each deletion and where it was made.
func Reset(ctx context.Context, cfg config.Config, cursors Cursors, backfills checkpoint.BackfillStore, sel Selection, reset func(what, where string)) error {
	var b checkpoint.Backfill
	var described bool
	if sel.Backfill != "" {
		exists := false
		if backfills != nil {
			var err error
			if exists, err = backfills.BackfillExists(ctx, sel.Backfill); err != nil {
				return err
			}
		}
		if !exists {
			return fault.Configf("no backfill named %q: 'checkpoint show --backfills' lists them", sel.Backfill)
		}
		if len(sel.Logs) == 0 { // a damaged description too goes with the rest
			if err := backfills.DeleteBackfill(ctx, sel.Backfill); err != nil {
				return err
			}
			reset("backfill "+sel.Backfill, "all its cursors")
			return nil
		}
		var err error
		if b, described, err = backfills.LoadBackfill(ctx, sel.Backfill); err != nil {
			return err
		}
	}
	var saved []string
	if sel.Account != "" {
		entries, _ := cursors.List(ctx)
		for _, en := range entries {
			saved = append(saved, en.Key.Account)
		}
	}
	_, _, discover := cfg.Discovery()
	account, err := accounts.Resolve(cfg.Accounts(), discover, sel.Account, saved)
	if err != nil {
		return err
	}
	for _, lt := range sel.Logs {
		key := checkpoint.Key{Account: account, Log: string(lt), Scope: sel.Backfill}
		if err := cursors.Delete(ctx, key); err != nil {
			return err
		}
		delete(b.Finished, backfill.FinishedKey(cfg, account, lt))
		reset(key.String(), cursors.Where(key))
	}
	if described {
		return backfills.SaveBackfill(ctx, b)
	}
	return nil
}
