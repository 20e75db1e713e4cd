package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/app"
	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/runner"
)

const checkpointUsage = `Usage: duo-connector checkpoint show  --config FILE [--json] [--logs auth,...] [--account NAME] [--backfills]
       duo-connector checkpoint reset --config FILE --logs auth,... [--account NAME] [--force] --yes
       duo-connector checkpoint reset --config FILE --backfill NAME [--logs auth,...] [--account NAME] --yes
       duo-connector checkpoint migrate --to kafka --config FILE

show prints every saved cursor: how far each log has been delivered; with
--backfills, every backfill too (its range, progress, whether finished).
reset deletes the daemon's cursors of the logs named, so the next run starts
initial_lookback ago; with --backfill, it deletes that backfill's cursors of
the logs named, or the whole backfill. It needs --yes, and the connector
must be stopped (the state directory is locked). With several accounts,
--account names the one (its name, child account id or API host).

With checkpoint.store: kafka (cluster mode), show and reset act on the state
topic (reset writes tombstones, and refuses while processes of the group
are running unless --force); backfills keep their cursors in the state
directory. migrate copies the state directory's cursors into the state
topic, so that an installation moves to cluster mode without reading
anything twice.
`

// checkpointFlags are the flags of both subcommands.
type checkpointFlags struct {
	cfg       config.Config
	logs      []duo.LogType
	logsArg   string
	asJSON    bool
	backfills bool
	backfill  string
	account   string
	yes       bool
	force     bool
}

func runCheckpoint(args []string, e env) int {
	if len(args) == 0 || (args[0] != "show" && args[0] != "reset" && args[0] != "migrate") {
		fmt.Fprint(e.stderr, checkpointUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("checkpoint "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	var f checkpointFlags
	fs.StringVar(&f.logsArg, "logs", "", "comma-separated log types (show: default all; reset: required unless --backfill)")
	fs.BoolVar(&f.asJSON, "json", false, "show: print JSON")
	fs.BoolVar(&f.backfills, "backfills", false, "show: include backfills and their cursors")
	fs.StringVar(&f.backfill, "backfill", "", "reset: the backfill (as 'checkpoint show --backfills' names it) to reset")
	fs.StringVar(&f.account, "account", "", "the account (name, child account id or API host); reset: required when there are several")
	fs.BoolVar(&f.yes, "yes", false, "reset: confirm deleting the cursors")
	fs.BoolVar(&f.force, "force", false, "reset (cluster mode): even while processes of the group are running; migrate: even if the topic has cursors")
	to := fs.String("to", "", "migrate: where to copy the cursors (kafka)")
	if code := parseFlags(fs, args[1:]); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, e, "checkpoint")
	if !ok {
		return exitUsage
	}
	f.cfg = cfg
	var err error
	if f.logs, err = runner.ParseLogs(f.logsArg); err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: --logs: %v\n", err)
		return exitUsage
	}
	if sub == "reset" {
		if code := f.validateReset(e.stderr); code >= 0 {
			return code
		}
	}
	if sub == "migrate" {
		return f.migrate(*to, e)
	}
	var files *checkpoint.FileStore // backfills are the state directory's
	if cfg.Checkpoint.Store != "kafka" || f.backfill != "" || f.backfills {
		if files, err = checkpoint.OpenExisting(cfg.StateDir); err != nil {
			fmt.Fprintf(e.stderr, "duo-connector checkpoint: %v\n", err)
			return exitFailure
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cursors, err := app.OpenCursors(ctx, cfg, files, f.backfills, sub == "reset" && !f.force)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: %v\n", err)
		return exitFailure
	}
	defer cursors.Close()
	if sub == "reset" {
		return f.reset(ctx, cursors, files, e)
	}
	return f.show(ctx, cursors, files, e)
}

// migrate copies the state directory's daemon cursors into the state
// topic.
func (f *checkpointFlags) migrate(to string, e env) int {
	if to != "kafka" {
		fmt.Fprintln(e.stderr, "duo-connector checkpoint migrate: --to kafka is the one destination: the state topic of checkpoint.topic")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := app.Migrate(ctx, f.cfg, f.force, func(k checkpoint.Key) {
		fmt.Fprintf(e.stdout, "copied %s to %s\n", k, f.cfg.Checkpoint.Topic)
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint migrate: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "%d cursors copied; set checkpoint.store: kafka and start the processes\n", n)
	return exitOK
}

// validateReset checks reset's flags before anything is opened; it returns
// the exit code to stop with, or -1.
func (f *checkpointFlags) validateReset(stderr io.Writer) int {
	switch {
	case len(f.logs) == 0 && f.backfill == "":
		fmt.Fprintln(stderr, "duo-connector checkpoint reset: name the logs to reset with --logs (auth,admin,offline,telephony), or a backfill with --backfill")
		return exitUsage
	case !f.yes && f.backfill != "":
		fmt.Fprintf(stderr, "duo-connector checkpoint reset: this deletes backfill %s's cursors (%s): rerunning it starts it over. Add --yes to confirm.\n", f.backfill, orAll(f.logsArg))
		return exitUsage
	case !f.yes:
		fmt.Fprintf(stderr, "duo-connector checkpoint reset: this makes the next run start %s ago for %v, re-publishing what was already sent since then. Add --yes to confirm.\n", f.cfg.InitialLookback.D(), f.logsArg)
		return exitUsage
	}
	return -1
}

func orAll(logs string) string {
	if logs == "" {
		return "every log"
	}
	return logs
}

// reset deletes the daemon's cursors of the logs named, or a backfill's
// (the named logs' cursors, or the whole backfill).
func (f *checkpointFlags) reset(ctx context.Context, cursors app.Cursors, files *checkpoint.FileStore, e env) int {
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint reset: %v\n", err)
		return exitFailure
	}
	var b checkpoint.Backfill
	var described bool
	if f.backfill != "" {
		if !files.BackfillExists(f.backfill) {
			return fail(fmt.Errorf("no backfill named %q: 'checkpoint show --backfills' lists them", f.backfill))
		}
		if len(f.logs) == 0 { // a damaged description too goes with the rest
			if err := files.DeleteBackfill(f.backfill); err != nil {
				return fail(err)
			}
			fmt.Fprintf(e.stdout, "reset backfill %s (all its cursors)\n", f.backfill)
			return exitOK
		}
		var err error
		if b, described, err = files.LoadBackfill(f.backfill); err != nil {
			return fail(err)
		}
	}
	var saved []string
	if f.account != "" {
		entries, _ := cursors.List(ctx)
		for _, en := range entries {
			saved = append(saved, en.Key.Account)
		}
	}
	_, _, discover := f.cfg.Discovery()
	account, err := accounts.Resolve(f.cfg.Accounts(), discover, f.account, saved)
	if err != nil {
		return fail(err)
	}
	for _, lt := range f.logs {
		key := checkpoint.Key{Account: account, Log: string(lt), Scope: f.backfill}
		if err := cursors.Delete(ctx, key); err != nil {
			return fail(err)
		}
		delete(b.Finished, backfill.FinishedKey(f.cfg, account, lt)) // the log is no longer finished
		fmt.Fprintf(e.stdout, "reset %s (%s)\n", key, cursors.Where(key))
	}
	if described {
		if err := files.SaveBackfill(b); err != nil {
			return fail(err)
		}
	}
	return exitOK
}

// cursorRow is one cursor as show prints it.
type cursorRow struct {
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

// backfillRow is one backfill as show prints it.
type backfillRow struct {
	Name     string               `json:"name"`
	Range    string               `json:"range,omitempty"`
	Since    time.Time            `json:"since"`
	Until    time.Time            `json:"until"`
	Progress map[string]float64   `json:"progress"`
	Finished map[string]time.Time `json:"finished,omitempty"`
	Done     bool                 `json:"done"`
}

// show prints the cursors (and backfills).
func (f *checkpointFlags) show(ctx context.Context, cursors app.Cursors, files *checkpoint.FileStore, e env) int {
	entries, listErr := cursors.List(ctx)
	var backfills []checkpoint.Backfill
	var bfErr error
	if f.backfills {
		backfills, bfErr = files.Backfills()
	}
	byName := map[string]checkpoint.Backfill{}
	for _, b := range backfills {
		byName[b.Name] = b
	}
	want := map[string]bool{}
	for _, lt := range f.logs {
		want[string(lt)] = true
	}
	var rows []cursorRow
	var errs []string
	now := time.Now()
	for _, en := range entries {
		if len(want) > 0 && !want[en.Key.Log] || !accounts.Named(f.cfg.Accounts(), f.account, en.Key.Account) {
			continue
		}
		row := cursorRow{Account: en.Key.Account, Log: en.Key.Log, Scope: en.Key.Scope, Updated: en.Updated, Path: en.Path, Cursor: en.Cursor}
		c, err := duolog.ParseCursor(en.Cursor)
		if err != nil {
			row.Error = err.Error()
			errs = append(errs, fmt.Sprintf("%s: %v; reset it with: %s", en.Path, err, en.Key.ResetCommand()))
			rows = append(rows, row)
			continue
		}
		row.Delivered = c.Time(duolog.IsV1(duo.LogType(en.Key.Log), f.cfg.Duo.TelephonyV1)).UTC()
		// A backfill is behind its own end, not now.
		end := now
		if b, ok := byName[en.Key.Scope]; ok && en.Key.Scope != "" && !b.Until.IsZero() {
			end = b.Until
			if _, done := b.Finished[backfill.FinishedKey(f.cfg, en.Key.Account, duo.LogType(en.Key.Log))]; done {
				end = row.Delivered
			}
		}
		row.Behind = max(end.Sub(row.Delivered), 0).Round(time.Second).String()
		rows = append(rows, row)
	}
	var brows []backfillRow
	for _, b := range backfills {
		brows = append(brows, backfillProgress(f.cfg, b, rows, f.logs))
	}
	if f.asJSON {
		f.printJSON(e.stdout, rows, brows)
	} else {
		f.printText(e.stdout, rows, brows)
	}
	code := exitOK
	for _, err := range append(errs, errorLines(listErr, bfErr)...) {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: %s\n", err)
		code = exitFailure
	}
	return code
}

func errorLines(errs ...error) []string {
	var out []string
	for _, err := range errs {
		if err != nil {
			out = append(out, strings.Split(err.Error(), "\n")...)
		}
	}
	return out
}

// backfillProgress is how much of its range each of b's logs delivered.
func backfillProgress(cfg config.Config, b checkpoint.Backfill, rows []cursorRow, logs []duo.LogType) backfillRow {
	delivered := map[string]time.Time{}
	for _, row := range rows {
		if row.Scope == b.Name && !row.Delivered.IsZero() {
			delivered[backfill.FinishedKey(cfg, row.Account, duo.LogType(row.Log))] = row.Delivered
		}
	}
	st := backfill.StatusOf(b, delivered, logs)
	return backfillRow{Name: b.Name, Range: b.Range, Since: b.Since, Until: b.Until, Finished: b.Finished, Progress: st.Progress, Done: st.Done}
}

func (f *checkpointFlags) printJSON(w io.Writer, rows []cursorRow, brows []backfillRow) {
	if rows == nil {
		rows = []cursorRow{}
	}
	var v any = rows
	if f.backfills {
		if brows == nil {
			brows = []backfillRow{}
		}
		v = struct {
			Cursors   []cursorRow   `json:"cursors"`
			Backfills []backfillRow `json:"backfills"`
		}{rows, brows}
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

func (f *checkpointFlags) printText(w io.Writer, rows []cursorRow, brows []backfillRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tLOG\tSCOPE\tDELIVERED UNTIL\tBEHIND\tSAVED\tFILE")
	for _, r := range rows {
		scope := r.Scope
		if scope == "" {
			scope = "daemon"
		}
		delivered, behind := r.Delivered.Format(time.RFC3339), r.Behind
		if r.Error != "" {
			delivered, behind = "UNREADABLE", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, r.Log, scope, delivered, behind, r.Updated.Format(time.RFC3339), r.Path)
	}
	tw.Flush()
	if len(rows) == 0 {
		fmt.Fprintln(w, "(no cursors yet: the first run starts initial_lookback ago)")
	}
	if !f.backfills {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKFILL\tRANGE\tSINCE\tUNTIL\tSTATUS")
	for _, b := range brows {
		status := "in progress"
		if b.Done {
			status = "finished"
		}
		var parts []string
		for _, l := range sortedKeys(b.Progress) {
			mark := fmt.Sprintf("%.0f%%", 100*b.Progress[l])
			if _, ok := b.Finished[l]; ok {
				mark = "done"
			}
			parts = append(parts, l+" "+mark)
		}
		if len(parts) > 0 {
			status += " (" + strings.Join(parts, ", ") + ")"
		}
		since, until := "-", "-"
		if !b.Since.IsZero() {
			since, until = b.Since.UTC().Format(time.RFC3339), b.Until.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Name, b.Range, since, until, status)
	}
	tw.Flush()
	if len(brows) == 0 {
		fmt.Fprintln(w, "(no backfills)")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
