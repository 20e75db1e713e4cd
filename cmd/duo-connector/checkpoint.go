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
	"github.com/duo-connector/duo-connector/connector/app"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/fault"
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
topic, where backfills keep their cursors too (reset writes tombstones, and
refuses to reset the daemon's cursors while processes of the group are
running unless --force). migrate copies the state directory's cursors into the state
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
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "duo-connector checkpoint: unknown subcommand %q\n", args[0])
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
	if f.logs, err = duo.ParseLogTypes(f.logsArg); err != nil {
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cursors, backfills, err := app.OpenCursors(ctx, cfg, f.backfill != "" || f.backfills, sub == "reset", f.force)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: %v\n", err)
		return exitFailure
	}
	defer cursors.Close()
	if sub == "reset" {
		return f.reset(ctx, cursors, backfills, e)
	}
	return f.show(ctx, cursors, backfills, e)
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
func (f *checkpointFlags) reset(ctx context.Context, cursors app.Cursors, backfills checkpoint.BackfillStore, e env) int {
	err := app.Reset(ctx, f.cfg, cursors, backfills, app.Selection{Logs: f.logs, Account: f.account, Backfill: f.backfill}, func(what, where string) {
		fmt.Fprintf(e.stdout, "reset %s (%s)\n", what, where)
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint reset: %v\n", err)
		return exitCode(err)
	}
	return exitOK
}

// show prints the cursors (and backfills).
func (f *checkpointFlags) show(ctx context.Context, cursors app.Cursors, backfills checkpoint.BackfillStore, e env) int {
	if !f.backfills {
		backfills = nil
	}
	st, err := app.Show(ctx, f.cfg, cursors, backfills, app.Selection{Logs: f.logs, Account: f.account}, time.Now())
	if fault.Of(err) == fault.Config {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint show: %v\n", err)
		return exitUsage
	}
	if f.asJSON {
		f.printJSON(e.stdout, st.Cursors, st.Backfills)
	} else {
		f.printText(e.stdout, st.Cursors, st.Backfills)
	}
	code := exitOK
	for _, line := range append(st.Problems, errorLines(err)...) {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: %s\n", line)
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

// printJSON prints one shape, with or without --backfills: an object of
// the cursors and the backfills (empty when not asked for).
func (f *checkpointFlags) printJSON(w io.Writer, rows []app.CursorRow, brows []app.BackfillRow) {
	v := struct {
		Cursors   []app.CursorRow   `json:"cursors"`
		Backfills []app.BackfillRow `json:"backfills"`
	}{append([]app.CursorRow{}, rows...), append([]app.BackfillRow{}, brows...)}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

func (f *checkpointFlags) printText(w io.Writer, rows []app.CursorRow, brows []app.BackfillRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tACCOUNT\tLOG\tSCOPE\tDELIVERED UNTIL\tBEHIND\tSAVED\tFILE")
	for _, r := range rows {
		scope := r.Scope
		if scope == "" {
			scope = "daemon"
		}
		delivered, behind := r.Delivered.Format(time.RFC3339), r.Behind
		if r.Error != "" {
			delivered, behind = "UNREADABLE", "-"
		}
		name := r.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, r.Account, r.Log, scope, delivered, behind, r.Updated.Format(time.RFC3339), r.Path)
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
