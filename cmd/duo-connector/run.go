package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/runner"
)

func runRun(args []string, e env) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	once := fs.Bool("once", false, "drain every configured log up to now - lag, then exit")
	logs := fs.String("logs", "", "comma-separated log types to run (default: the configuration's logs)")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: duo-connector run --config FILE [--once] [--logs auth,...]

Runs the connector: polls the Duo Admin API on the configured schedule and
publishes every record, normalized, to Kafka. With --once, drains each log
up to now - lag and exits. SIGTERM or SIGINT stop it after the page in
flight (exit 0).

Flags:
`)
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, e, "run")
	if !ok {
		return exitUsage
	}
	lts, err := runner.ParseLogs(*logs)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector run: --logs: %v\n", err)
		return exitUsage
	}
	return execute(cfg, e, runner.Options{Logs: lts}, *once)
}

// execute builds a runner and runs it until done or signalled.
func execute(cfg config.Config, e env, opts runner.Options, once bool) int {
	logger := newLogger(cfg, e)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r, err := runner.New(ctx, cfg, logger, opts)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return exitFailure
	}
	defer r.Close()
	logger.Info("duo-connector started", "version", version, "account", cfg.Account(), "logs", cfg.Logs, "once", once)
	if once {
		err = r.Once(ctx)
	} else {
		err = r.Run(ctx)
	}
	switch {
	case ctx.Err() != nil:
		logger.Info("stopped by signal")
		return exitOK
	case err != nil:
		logger.Error("stopped", "error", err)
		return exitFailure
	}
	return exitOK
}

func runBackfill(args []string, e env) int {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	since := fs.String("since", "", "start of the range: RFC 3339 time, or a duration ago (7d, 36h)")
	until := fs.String("until", "", "end of the range: RFC 3339 time, or a duration ago (default: now)")
	logs := fs.String("logs", "", "comma-separated log types (default: the configuration's logs)")
	eventTime := fs.Bool("event-time", false, "stamp Kafka messages with the records' time instead of the time of publishing")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: duo-connector backfill --config FILE --since T [--until T] [--logs auth,...]

Publishes every record of a closed time range, once, then exits. A backfill
keeps cursors of its own (per range): rerun the same command after an
interruption and it continues where it stopped. The daemon's cursors are
not touched. Duo keeps 180 days; older ranges are cut at the horizon.

Flags:
`)
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	now := time.Now()
	from, err := parseWhen(*since, now)
	if err != nil || *since == "" {
		fmt.Fprintf(e.stderr, "duo-connector backfill: --since: %v\n", orMissing(err))
		return exitUsage
	}
	to := now
	if *until != "" {
		if to, err = parseWhen(*until, now); err != nil {
			fmt.Fprintf(e.stderr, "duo-connector backfill: --until: %v\n", err)
			return exitUsage
		}
	}
	if !from.Before(to) {
		fmt.Fprintf(e.stderr, "duo-connector backfill: --since (%s) must be before --until (%s)\n", from.Format(time.RFC3339), to.Format(time.RFC3339))
		return exitUsage
	}
	cfg, ok := loadConfig(*cfgPath, e, "backfill")
	if !ok {
		return exitUsage
	}
	lts, err := runner.ParseLogs(*logs)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector backfill: --logs: %v\n", err)
		return exitUsage
	}
	return execute(cfg, e, runner.Options{Logs: lts, Backfill: &runner.Backfill{Since: from, Until: to, EventTime: *eventTime}}, true)
}

func orMissing(err error) error {
	if err == nil {
		return errors.New("required")
	}
	return err
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration ago (7d, 36h)", s)
}
