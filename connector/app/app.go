// Package app is the connector's composition root. Build turns a loaded
// configuration into the service: the runner that reads the accounts'
// logs (in cluster mode, a member of the group that builds one for each
// assignment), the metrics and health listener, and systemd's readiness
// and watchdog. The command line only parses flags, handles signals and
// prints.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/cluster"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/fault"
	"github.com/duo-connector/duo-connector/connector/internal/sdnotify"
	"github.com/duo-connector/duo-connector/connector/metrics"
	"github.com/duo-connector/duo-connector/connector/publish"
	"github.com/duo-connector/duo-connector/connector/runner"
)

// Options are what one invocation asks of the service.
type Options struct {
	// Logger receives the service's log (default: discard).
	Logger *slog.Logger
	// Version is reported at start.
	Version string
	// Environ is the process environment: systemd's NOTIFY_SOCKET and
	// WATCHDOG_USEC are read from it.
	Environ []string
	// Logs and Accounts, when set, restrict the run to these log types
	// and to the accounts these name (see accounts.Account.Matches).
	Logs     []duo.LogType
	Accounts []string
	// Backfill, when set, makes this a backfill (run with Once).
	Backfill *backfill.Spec
	// OneShot is set for Once: a Kafka write failing for longer than
	// OneShotKafkaPatience ends the run instead of waiting forever.
	OneShot bool
}

// OneShotKafkaPatience is how long run --once and backfill keep retrying
// a Kafka write before they fail: whatever runs them can then tell.
const OneShotKafkaPatience = 5 * time.Minute

// CheckError is Once's check of Duo and Kafka failing: nothing was read.
type CheckError struct{ Err error }

func (e *CheckError) Error() string { return e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

// Service is the connector, built and ready to run.
type Service struct {
	cfg      config.Config
	opts     Options
	logger   *slog.Logger
	metrics  *metrics.Metrics
	notifier *sdnotify.Notifier
	// runner reads the logs in single-process mode; nil in cluster mode,
	// whose runners are built per assignment.
	runner *runner.Runner
	// ping checks the Kafka brokers, for the health endpoint.
	ping  func(context.Context) error
	close []func() error
}

// Build builds the service. In single-process mode it takes the state
// directory's lock, finds the accounts and loads every cursor, so that a
// second daemon, an unreadable cursor or a finished backfill
// (*backfill.FinishedError) fail here, before anything is read.
func Build(ctx context.Context, cfg config.Config, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, opts: opts, logger: opts.Logger, metrics: metrics.New(), notifier: sdnotify.New(opts.Environ)}
	s.metrics.SetBuild(metrics.BuildOf(opts.Version))
	if s.cluster() {
		// The brokers' health is served while Kafka is awaited at start.
		pub, err := publish.New(cfg.PublishConfig(s.logger))
		if err != nil {
			return nil, err
		}
		s.ping = func(ctx context.Context) error { return pub.Ping(ctx) }
		s.close = append(s.close, pub.Close)
		return s, nil
	}
	var store checkpoint.Store
	if s.oneShotOnTopic() {
		// Stateless: the cursors are the state topic's, no state
		// directory is needed (a Kubernetes CronJob, a serverless job).
		// A running cluster holds the daemon's and would write them
		// back: run --once is refused while it runs. A backfill's
		// cursors are its own: it runs beside the cluster.
		what := "run --once"
		if opts.Backfill != nil {
			what = "backfill"
		}
		st, _, err := openState(ctx, cfg, opts.Backfill == nil)
		if err != nil {
			return nil, fmt.Errorf("%s with checkpoint.store: kafka: %w", what, err)
		}
		if err := st.Restore(ctx, nil); err != nil {
			st.Close()
			return nil, fmt.Errorf("%s with checkpoint.store: kafka: %w", what, err)
		}
		s.close = append(s.close, st.Close)
		store = st
	} else if err := checkpoint.CheckDir(cfg.StateDir); err != nil {
		return nil, &fault.ConfigError{Err: err}
	}
	r, err := NewRunner(ctx, cfg, s.logger, store, s.runnerOptions(), s.giveUpAfter())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.runner = r
	// The brokers only: a topic refused is its accounts' trouble, shown
	// as they fail, not the whole connector's.
	s.ping = func(ctx context.Context) error { return r.Publisher().Ping(ctx) }
	s.close = append(s.close, r.Close)
	return s, nil
}

// cluster reports cluster mode: the daemon shares the work with the
// other processes of its group (backfills are always single-process).
func (s *Service) cluster() bool {
	return s.cfg.Checkpoint.Store == "kafka" && s.opts.Backfill == nil && !s.opts.OneShot
}

// oneShotOnTopic reports a one-shot run (run --once, backfill) whose
// cursors are the state topic's: it reads every unit in this process,
// with no state directory.
func (s *Service) oneShotOnTopic() bool {
	return s.cfg.Checkpoint.Store == "kafka" && (s.opts.Backfill != nil || s.opts.OneShot)
}

func (s *Service) runnerOptions() runner.Options {
	return runner.Options{Logs: s.opts.Logs, Accounts: s.opts.Accounts, Backfill: s.opts.Backfill, Metrics: s.metrics}
}

// giveUpAfter is how long a Kafka write may fail: the daemon waits out
// any outage; a one-shot run ends (cursors kept) so that whatever runs it
// can tell.
func (s *Service) giveUpAfter() time.Duration {
	if s.opts.OneShot {
		return OneShotKafkaPatience
	}
	return 0
}

// Metrics returns what the service counts (progress, summaries).
func (s *Service) Metrics() *metrics.Metrics { return s.metrics }

// Logs returns the log types read (single-process mode).
func (s *Service) Logs() []duo.LogType {
	if s.runner == nil {
		return s.opts.Logs
	}
	return s.runner.Logs()
}

// Check tries Duo and Kafka once before a one-shot run, so that a mistake
// of configuration fails at once with its fix (see runner.Runner.Check).
func (s *Service) Check(ctx context.Context) error {
	if s.runner == nil {
		return errors.New("cluster mode reads no logs by itself: run the daemon")
	}
	return s.runner.Check(ctx)
}

// Once checks Duo and Kafka (a *CheckError when either refuses), then drains every log up to now - lag (or
// the backfill's end) and returns the logs' errors.
func (s *Service) Once(ctx context.Context) error {
	if s.runner == nil {
		return errors.New("cluster mode reads no logs by itself: run the daemon")
	}
	if err := s.Check(ctx); err != nil {
		return &CheckError{err}
	}
	return s.serve(ctx, s.runner.Alive, s.runner.Once)
}

// Run is the daemon: it reads on the schedule until ctx ends (nil) or a
// fatal error stops it.
func (s *Service) Run(ctx context.Context) error {
	if s.runner != nil {
		return s.serve(ctx, s.runner.Alive, s.runner.Run)
	}
	// Started for systemd once it serves health, even while Kafka is
	// awaited: a Kafka outage at boot must not fail the unit's start.
	var member atomic.Pointer[cluster.Member]
	alive := func() bool { m := member.Load(); return m == nil || m.Alive() }
	return s.serve(ctx, alive, func(ctx context.Context) error {
		build := func(ctx context.Context, a cluster.Assignment) (cluster.Work, error) {
			o := s.runnerOptions()
			o.Owns = func(account, _ string) bool { return a.Owns(account) }
			return NewRunner(ctx, s.cfg, s.logger, a.Store, o, s.giveUpAfter())
		}
		ccfg, err := cluster.NewConfig(s.cfg, s.logger, build)
		if err != nil {
			return fmt.Errorf("cannot start: %w", err)
		}
		ccfg.OnGeneration = s.metrics.ClusterGeneration
		m, err := cluster.Join(ctx, ccfg)
		if err != nil {
			return fmt.Errorf("cannot start: %w", err)
		}
		defer m.Close()
		member.Store(m)
		s.logger.Info("duo-connector started in cluster mode", "version", s.opts.Version, "group", s.cfg.Checkpoint.Group, "state_topic", s.cfg.Checkpoint.Topic)
		return m.Run(ctx)
	})
}

// serve runs work with the metrics and health listener up, systemd told
// READY (and STOPPING when ctx ends), and the watchdog fed while alive.
func (s *Service) serve(ctx context.Context, alive func() bool, work func(context.Context) error) error {
	if s.cfg.HTTP.Listen != "" {
		srv, err := s.listen()
		if err != nil {
			return fault.Configf("cannot start the HTTP listener on http.listen %q: %w", s.cfg.HTTP.Listen, err)
		}
		defer srv.Close()
		s.logger.Info("serving metrics and health", "listen", srv.Addr)
	}
	if s.runner != nil {
		started := []any{"version", s.opts.Version, "logs", s.runner.Logs(), "once", s.opts.OneShot}
		if accts := s.runner.Accounts(); len(accts) == 1 {
			started = append(started, "account", accts[0].Label())
		} else {
			started = append(started, "accounts", len(accts))
		}
		s.logger.Info("duo-connector started", started...)
	}
	s.notifier.Notify("READY=1")
	defer context.AfterFunc(ctx, func() { s.notifier.Notify("STOPPING=1") })()
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	defer stopWatchdog()
	go s.notifier.Watchdog(wdCtx, alive)
	return work(ctx)
}

// listen starts the metrics and health listener.
func (s *Service) listen() (*http.Server, error) {
	ln, err := net.Listen("tcp", s.cfg.HTTP.Listen)
	if err != nil {
		return nil, err
	}
	sched, _ := config.ParseSchedule(s.cfg.Schedule)
	next := sched.Next(time.Now())
	h := metrics.Health{
		Interval:  sched.Next(next).Sub(next) + s.cfg.Jitter.D(),
		Intervals: 3,
		Kafka:     s.ping,
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: s.metrics.Handler(h), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// Close releases the runner (its state directory lock, its connections).
func (s *Service) Close() error {
	var errs []error
	for i := len(s.close) - 1; i >= 0; i-- { // last opened, first closed
		errs = append(errs, s.close[i]())
	}
	return errors.Join(errs...)
}
