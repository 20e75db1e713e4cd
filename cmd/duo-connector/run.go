package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/duo-connector/duo-connector/connector/app"
	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/fault"
)

func runRun(args []string, e env) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	once := fs.Bool("once", false, "drain every configured log up to now - lag, then exit")
	sel := selectionFlags(fs, "run")
	listen := listenFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: duo-connector run --config FILE [--once] [--logs auth,...] [--accounts NAME,...]

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
	listen(&cfg)
	opts, err := sel()
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector run: %v\n", err)
		return exitUsage
	}
	opts.OneShot = *once
	return execute(cfg, e, opts)
}

// execute builds the service and runs it until done or signalled.
func execute(cfg config.Config, e env, opts app.Options) int {
	lw := &logWriter{out: e.stderr}
	logger := newLogger(cfg, e, lw)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	defer ignoreSIGHUP(logger)()
	defer context.AfterFunc(ctx, func() { exitOnSecondSignal(logger, opts.OneShot) })()
	opts.Logger, opts.Version, opts.Environ = logger, version, e.environ
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	svc, err := app.Build(ctx, cfg, opts)
	var finished *backfill.FinishedError
	switch {
	case errors.As(err, &finished):
		logger.Info(finished.Error())
		return exitOK
	case err != nil:
		logger.Error("cannot start", "error", err)
		return exitCode(err)
	}
	defer svc.Close()
	if !opts.OneShot {
		return exitStatus(ctx, logger, svc.Run(ctx))
	}
	stopProgress := func() {}
	m, logs := svc.Metrics(), svc.Logs()
	if opts.Backfill != nil {
		stopProgress = sync.OnceFunc(startProgress(e.stderr, lw, logger, m, logs, *opts.Backfill,
			progressOptions{bars: isTerminal(e.stderr), interval: 30 * time.Second}))
		defer stopProgress()
	}
	start := time.Now()
	err = svc.Once(ctx)
	stopProgress() // the bars' last state, then the summary below them
	if errors.As(err, new(*app.CheckError)) {
		logger.Error("cannot start", "error", err)
		return exitFailure
	}
	summarize(logger, m, logs, time.Since(start))
	if ctx.Err() != nil {
		// Not a success: whatever runs it (a Job, cron) must not take
		// the range as done.
		logger.Warn("interrupted before the end: run the same command again to continue")
		return exitInterrupted
	}
	return exitStatus(ctx, logger, err)
}

// exitCode is the exit status of an error that stopped the connector
// before it began: the configuration's, or a failure.
func exitCode(err error) int {
	if fault.Of(err) == fault.Config {
		return exitUsage
	}
	return exitFailure
}

// exitOnSecondSignal makes a second SIGINT or SIGTERM, once stopping has
// begun, end the process at once rather than wait out the shutdown
// timeout: nothing is lost, the page in flight is read again next time.
func exitOnSecondSignal(logger *slog.Logger, once bool) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ch
		logger.Warn("second signal: stopping at once; the page in flight is read again next time")
		if once {
			os.Exit(exitInterrupted)
		}
		os.Exit(exitOK)
	}()
}

// ignoreSIGHUP keeps SIGHUP (a reload by habit, a closed terminal) from
// killing the process, until the returned stop. A reload would have to
// swap cursors and connections mid-page, so it is not done: the log says
// so, and how to apply a change.
func ignoreSIGHUP(logger *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			logger.Warn("SIGHUP ignored: the configuration is read only at start; restart the connector to apply a change (systemctl restart duo-connector)")
		}
	}()
	return func() { signal.Stop(hup); close(hup) }
}

// exitStatus logs how the daemon or run ended and returns its status.
func exitStatus(ctx context.Context, logger *slog.Logger, err error) int {
	switch {
	case ctx.Err() != nil:
		logger.Info("stopped by signal")
		return exitOK
	case err != nil:
		logger.Error("stopped", "error", err)
		return exitCode(err)
	}
	return exitOK
}

func runBackfill(args []string, e env) int {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	since := fs.String("since", "", "start of the range (required): RFC 3339 time, date (2026-11-20), or a duration ago (30d, 36h, 1d12h)")
	until := fs.String("until", "", "end of the range: RFC 3339 time, date, or a duration ago (default: now - lag, what Duo shows now; an end later than that waits for Duo's delay)")
	sel := selectionFlags(fs, "backfill")
	listen := listenFlag(fs)
	eventTime := fs.Bool("event-time", false, "stamp Kafka messages with the records' time instead of the time of publishing")
	again := fs.Bool("again", false, "start this backfill over from its beginning, even if it finished")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `Usage: duo-connector backfill --config FILE --since T [--until T] [--logs auth,...] [--accounts NAME,...] [--again]

Publishes every record of a closed time range, once, then exits. A backfill
keeps cursors of its own, named after the range as given: rerun the same
command after an interruption and it continues where it stopped, over the
range it began with (even when given as durations ago); a finished backfill
is not repeated unless --again. 'checkpoint show --backfills' lists them.
The daemon's cursors are not touched. Duo keeps 180 days; older ranges are
cut at the horizon.

Flags:
`)
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, e, "backfill")
	if !ok {
		return exitUsage
	}
	listen(&cfg)
	b, notice, err := backfill.Parse(*since, *until, time.Now(), cfg.Lag.D())
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector backfill: %v\n", err)
		return exitUsage
	}
	if notice != "" {
		fmt.Fprintf(e.stderr, "duo-connector backfill: %s\n", notice)
	}
	b.EventTime, b.Again = *eventTime, *again
	opts, err := sel()
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector backfill: %v\n", err)
		return exitUsage
	}
	opts.Backfill, opts.OneShot = &b, true
	return execute(cfg, e, opts)
}

// selectionFlags adds --logs and --accounts; the returned function reads
// them.
func selectionFlags(fs *flag.FlagSet, verb string) func() (app.Options, error) {
	logs := fs.String("logs", "", "comma-separated log types to "+verb+" (default: the configuration's logs)")
	accts := fs.String("accounts", "", "comma-separated accounts to "+verb+", by name, child account id or API host (default: every account)")
	return func() (app.Options, error) {
		lts, err := duo.ParseLogTypes(*logs)
		if err != nil {
			return app.Options{}, fmt.Errorf("--logs: %w", err)
		}
		var names []string
		for _, n := range strings.Split(*accts, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		return app.Options{Logs: lts, Accounts: names}, nil
	}
}

// listenFlag adds --http-listen, which replaces http.listen for one run
// ("off": no listener), so that a backfill or a second process on the
// host does not collide with the daemon's port.
func listenFlag(fs *flag.FlagSet) func(*config.Config) {
	addr := fs.String("http-listen", "", `metrics and health listener for this run, instead of http.listen ("off": none; "127.0.0.1:0": any free port)`)
	return func(cfg *config.Config) {
		switch *addr {
		case "":
		case "off":
			cfg.HTTP.Listen = ""
		default:
			cfg.HTTP.Listen = *addr
		}
	}
}
