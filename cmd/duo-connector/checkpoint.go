package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/runner"
)

func runCheckpoint(args []string, e env) int {
	if len(args) == 0 || (args[0] != "show" && args[0] != "reset") {
		fmt.Fprint(e.stderr, `Usage: duo-connector checkpoint show  --config FILE [--json] [--logs auth,...] [--backfills]
       duo-connector checkpoint reset --config FILE --logs auth,... --yes

show prints every saved cursor: how far each log has been delivered.
reset deletes cursors, so the next run starts initial_lookback ago; it needs
--yes, and the daemon must be stopped (the state directory is locked).
`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	sub := args[0]
	fs := flag.NewFlagSet("checkpoint "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	logs := fs.String("logs", "", "comma-separated log types (show: default all; reset: required)")
	asJSON := fs.Bool("json", false, "show: print JSON")
	backfills := fs.Bool("backfills", false, "show: include backfill cursors")
	yes := fs.Bool("yes", false, "reset: confirm deleting the cursors")
	if code := parseFlags(fs, args[1:]); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, e, "checkpoint")
	if !ok {
		return exitUsage
	}
	lts, err := runner.ParseLogs(*logs)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: --logs: %v\n", err)
		return exitUsage
	}
	store, err := checkpoint.Open(cfg.StateDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: %v\n", err)
		return exitFailure
	}
	defer store.Close()

	if sub == "reset" {
		if len(lts) == 0 {
			fmt.Fprintln(e.stderr, "duo-connector checkpoint reset: name the logs to reset with --logs (auth,admin,offline,telephony)")
			return exitUsage
		}
		if !*yes {
			fmt.Fprintf(e.stderr, "duo-connector checkpoint reset: this makes the next run start %s ago for %v, re-publishing what was already sent since then. Add --yes to confirm.\n", cfg.InitialLookback.D(), *logs)
			return exitUsage
		}
		for _, lt := range lts {
			key := checkpoint.Key{Account: cfg.Account(), Log: string(lt)}
			if err := store.Delete(context.Background(), key); err != nil {
				fmt.Fprintf(e.stderr, "duo-connector checkpoint reset: %v\n", err)
				return exitFailure
			}
			fmt.Fprintf(e.stdout, "reset %s (%s)\n", key, store.Path(key))
		}
		return exitOK
	}

	entries, listErr := store.List(*backfills)
	want := map[string]bool{}
	for _, lt := range lts {
		want[string(lt)] = true
	}
	type row struct {
		Account   string          `json:"account"`
		Log       string          `json:"log"`
		Scope     string          `json:"scope,omitempty"`
		Delivered time.Time       `json:"delivered_until"`
		Lag       string          `json:"lag"`
		Updated   time.Time       `json:"updated"`
		Path      string          `json:"path"`
		Cursor    json.RawMessage `json:"cursor"`
	}
	var rows []row
	now := time.Now()
	for _, en := range entries {
		if len(want) > 0 && !want[en.Key.Log] {
			continue
		}
		var c duolog.Cursor
		json.Unmarshal(en.Cursor, &c)
		t := c.Time(duolog.IsV1(duo.LogType(en.Key.Log), cfg.Duo.TelephonyV1)).UTC()
		rows = append(rows, row{en.Key.Account, en.Key.Log, en.Key.Scope, t, now.Sub(t).Round(time.Second).String(), en.Updated, en.Path, en.Cursor})
	}
	if *asJSON {
		if rows == nil {
			rows = []row{}
		}
		b, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tLOG\tSCOPE\tDELIVERED UNTIL\tBEHIND\tSAVED\tFILE")
		for _, r := range rows {
			scope := r.Scope
			if scope == "" {
				scope = "daemon"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, r.Log, scope, r.Delivered.Format(time.RFC3339), r.Lag, r.Updated.Format(time.RFC3339), r.Path)
		}
		tw.Flush()
		if len(rows) == 0 {
			fmt.Fprintln(e.stdout, "(no cursors yet: the first run starts initial_lookback ago)")
		}
	}
	if listErr != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint: %v\n", listErr)
		return exitFailure
	}
	return exitOK
}
