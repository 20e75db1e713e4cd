// Package runner wires a configuration into running pipelines: the Duo
// client, the Kafka publisher, the cursor store and one pipeline per log
// type, run once (run --once, backfill) or on a schedule (the daemon).
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/internal/liveness"
	"github.com/duo-connector/duo-connector/connector/metrics"
	"github.com/duo-connector/duo-connector/connector/pipeline"
	"github.com/duo-connector/duo-connector/connector/publish"
	"github.com/duo-connector/duo-connector/normalize"
)

// Metrics observes the client and the pipelines.
var (
	_ duo.Observer      = (*metrics.Metrics)(nil)
	_ pipeline.Observer = (*metrics.Metrics)(nil)
)

// Backfill is a one-shot run over a closed time range, with cursors of its
// own so that a killed backfill resumes where it stopped and never touches
// the daemon's cursors.
type Backfill struct {
	// Name identifies the backfill and its cursors (their Scope). It is
	// made from the range as given, so that rerunning the same command
	// continues the same backfill even when the range was given as
	// durations ago.
	Name string
	// Range is the range as given, for listings.
	Range string
	// Since and Until are the range. When the backfill exists already
	// they are replaced by the range it was begun with.
	Since, Until time.Time
	// EventTime stamps messages with the records' time instead of the
	// time of publishing (the default for backfills, so that time-based
	// retention does not delete them at once).
	EventTime bool
	// Again starts the backfill over even if it exists (finished or not).
	Again bool
}

// FinishedError reports a backfill that has already delivered its whole
// range for every log asked for: it is not repeated unless asked again.
type FinishedError struct {
	Backfill checkpoint.Backfill
}

func (e *FinishedError) Error() string {
	return fmt.Sprintf("backfill %s (%s to %s) has already finished; nothing to do. To run it again from its start, add --again",
		e.Backfill.Name, e.Backfill.Since.UTC().Format(time.RFC3339), e.Backfill.Until.UTC().Format(time.RFC3339))
}

// Options adjust a Runner.
type Options struct {
	// Logs, when set, restricts the run to these log types.
	Logs []duo.LogType
	// Backfill, when set, makes this a backfill.
	Backfill *Backfill
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Metrics, when set, counts what the run does.
	Metrics *metrics.Metrics
	// StallAfter is how long a log's loop may show no progress before
	// Alive reports the runner stuck (default DefaultStallAfter).
	StallAfter time.Duration
	// GiveUpAfter, when set, ends a Kafka write that has been failing for
	// this long (one-shot runs should end rather than wait forever).
	GiveUpAfter time.Duration
}

// Runner runs the configured logs.
type Runner struct {
	cfg       config.Config
	logger    *slog.Logger
	store     *checkpoint.FileStore
	client    *duo.Client
	publisher *publish.Publisher
	pipelines []*pipeline.Pipeline
	logs      []duo.LogType
	opts      Options
	daemon    bool // Run, not Once: failed polls are tried again
	beats     []*liveness.Beat
}

// New builds a Runner: it takes the state directory's lock and loads every
// cursor, so a second daemon or an unreadable cursor fails here, before
// anything is read or written.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (*Runner, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = DefaultStallAfter
	}
	logs := cfg.LogTypes()
	if len(opts.Logs) > 0 {
		logs = opts.Logs
	}
	norm, err := normalize.New(normalize.Options{Mapping: normalize.Mapping(cfg.Normalize.Mapping)})
	if err != nil {
		return nil, err
	}
	duoCfg := cfg.DuoConfig(logger)
	duoCfg.Now = opts.Now
	if opts.Metrics != nil {
		duoCfg.Observer = opts.Metrics
	}
	client, err := duo.NewClient(duoCfg)
	if err != nil {
		return nil, fmt.Errorf("duo client: %w", err)
	}
	store, err := checkpoint.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	pubCfg := cfg.PublishConfig(logger)
	pubCfg.GiveUpAfter = opts.GiveUpAfter
	pub, err := publish.New(pubCfg)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("kafka: %w", err)
	}
	r := &Runner{cfg: cfg, logger: logger, store: store, client: client, publisher: pub, logs: logs, opts: opts}
	if b := opts.Backfill; b != nil {
		if err := r.beginBackfill(b); err != nil {
			r.Close()
			return nil, err
		}
		if horizon := opts.Now().Add(-duolog.Horizon); b.Since.Before(horizon) {
			logger.Warn("the backfill starts before Duo's 180-day horizon: records older than it are gone from Duo; starting at the horizon",
				"since", b.Since.UTC().Format(time.RFC3339), "horizon", horizon.UTC().Format(time.RFC3339))
		}
	}
	inFlight := pipeline.NewInFlight(cfg.PagesInFlight)
	for _, lt := range r.logs {
		popts := pipeline.Options{
			InFlight:        inFlight,
			Host:            cfg.Duo.APIHost,
			Key:             checkpoint.Key{Account: cfg.Account(), Log: string(lt)},
			Topic:           cfg.Kafka.Topic,
			PublishTime:     cfg.Kafka.MessageTimestamp == "publish",
			ShutdownTimeout: cfg.ShutdownTimeout.D(),
			Reader: duolog.Options{
				Lag:             cfg.Lag.D(),
				InitialLookback: cfg.InitialLookback.D(),
				TelephonyV1:     cfg.Duo.TelephonyV1,
				Now:             opts.Now,
			},
			Logger: logger.With("account", cfg.Account(), "log", string(lt)),
		}
		if opts.Metrics != nil {
			popts.Observer = opts.Metrics
		}
		if b := opts.Backfill; b != nil {
			popts.Key.Scope = b.Name
			popts.PublishTime = !b.EventTime
			popts.Reader.Until = b.Until
			// With no backfill cursor yet, start at Since.
			popts.Reader.InitialLookback = max(opts.Now().Sub(b.Since), time.Second)
		}
		p, err := pipeline.New(ctx, client, lt, norm, pub, store, popts)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.pipelines = append(r.pipelines, p)
		r.beats = append(r.beats, liveness.NewBeat())
		if opts.Metrics != nil {
			opts.Metrics.CursorAt(lt, p.CursorTime(), p.CheckedThrough())
		}
	}
	return r, nil
}

// beginBackfill continues the backfill b names, with the range it was
// begun with, and only for the logs it has not finished; or records it as
// a new one.
func (r *Runner) beginBackfill(b *Backfill) error {
	rec, ok, err := r.store.LoadBackfill(b.Name)
	if err != nil {
		return err
	}
	if ok && b.Again {
		if err := r.store.DeleteBackfill(b.Name); err != nil {
			return err
		}
		ok = false
	}
	if !ok {
		rec = checkpoint.Backfill{Name: b.Name, Range: b.Range, Since: b.Since, Until: b.Until, Created: r.opts.Now().UTC()}
		return r.store.SaveBackfill(rec)
	}
	b.Since, b.Until = rec.Since, rec.Until
	var todo []duo.LogType
	for _, lt := range r.logs {
		if _, done := rec.Finished[string(lt)]; !done {
			todo = append(todo, lt)
		}
	}
	if len(todo) == 0 {
		return &FinishedError{Backfill: rec}
	}
	r.logger.Info("continuing backfill", "backfill", b.Name, "since", b.Since.UTC().Format(time.RFC3339), "until", b.Until.UTC().Format(time.RFC3339), "logs", todo)
	r.logs = todo
	return nil
}

// finishBackfill records the logs that delivered the backfill's whole
// range.
func (r *Runner) finishBackfill(done []duo.LogType) error {
	b := r.opts.Backfill
	rec, ok, err := r.store.LoadBackfill(b.Name)
	if err != nil || !ok {
		return err
	}
	if rec.Finished == nil {
		rec.Finished = map[string]time.Time{}
	}
	for _, lt := range done {
		rec.Finished[string(lt)] = r.opts.Now().UTC()
	}
	return r.store.SaveBackfill(rec)
}

// Preflight checks, before a one-shot run, that Duo and Kafka can be
// reached at all: a mistake of configuration (a name that does not
// resolve, a refused connection, a certificate not trusted, a refused
// credential or topic) fails it at once with its fix, instead of after
// minutes of retries. Trouble that may pass is only logged: the run's own
// retries are patient with it.
func (r *Runner) Preflight(ctx context.Context) error {
	var errs []error
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := r.client.Check(dctx)
	cancel()
	var apiErr *duo.APIError
	var ue *duo.UnreachableError
	switch {
	case err == nil:
	case errors.As(err, &apiErr) && !apiErr.Temporary(), errors.As(err, &ue) && ue.Permanent:
		errs = append(errs, fmt.Errorf("duo: %w", err))
	default:
		r.logger.Warn("duo did not answer the first request; retrying as the run goes", "error", err)
	}
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = r.publisher.Check(kctx, r.Topics()...)
	cancel()
	var fe *publish.FatalError
	var pue *publish.UnreachableError
	switch {
	case err == nil:
	case errors.As(err, &fe), errors.As(err, &pue) && pue.Permanent:
		errs = append(errs, err)
	default:
		r.logger.Warn("kafka did not answer the first request; retrying as the run goes", "error", err)
	}
	return errors.Join(errs...)
}

// Logs returns the log types the runner runs.
func (r *Runner) Logs() []duo.LogType { return r.logs }

// Close releases the publisher and the state directory.
func (r *Runner) Close() error {
	err := r.publisher.Close()
	return errors.Join(err, r.store.Close())
}

// Publisher returns the Kafka publisher (for health checks).
func (r *Runner) Publisher() *publish.Publisher { return r.publisher }

// Topics returns the Kafka topics the runner writes to.
func (r *Runner) Topics() []string {
	c := r.cfg
	c.Logs = nil
	for _, lt := range r.logs {
		c.Logs = append(c.Logs, string(lt))
	}
	return c.Topics()
}

// Once drains every log up to now − lag (or the backfill's end),
// concurrently, and returns the errors of the logs that failed.
func (r *Runner) Once(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(r.pipelines))
	for i, p := range r.pipelines {
		wg.Go(func() {
			errs[i] = r.poll(liveness.With(ctx, r.beats[i]), r.logs[i], p)
		})
	}
	wg.Wait()
	if r.opts.Backfill != nil {
		var done []duo.LogType
		for i, err := range errs {
			if err == nil && ctx.Err() == nil {
				done = append(done, r.logs[i])
			}
		}
		if err := r.finishBackfill(done); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// poll drains one log and logs the outcome.
func (r *Runner) poll(ctx context.Context, lt duo.LogType, p *pipeline.Pipeline) error {
	start := time.Now()
	st, err := p.Drain(ctx)
	if m := r.opts.Metrics; m != nil {
		m.PollFinished(lt, err)
		if nse := (*pipeline.CursorNotSavedError)(nil); errors.As(err, &nse) {
			m.CursorNotSaved(lt, err)
		}
		if err == nil {
			m.CursorAt(lt, p.CursorTime(), p.CheckedThrough())
		}
	}
	attrs := []any{"account", r.cfg.Account(), "log", string(lt), "records", st.Records, "pages", st.Pages,
		"malformed", st.Malformed, "duration", time.Since(start).Round(time.Millisecond),
		"cursor", p.CursorTime().UTC().Format(time.RFC3339)}
	switch {
	case err == nil:
		r.logger.Info("poll finished", attrs...)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.logger.Info("poll stopped", attrs...)
		return nil
	case r.daemon && !pipeline.IsFatal(err):
		r.logger.Error("poll failed; will try again on the next poll", append(attrs, "error", err)...)
		return fmt.Errorf("%s: %w", lt, err)
	default:
		r.logger.Error("poll failed", append(attrs, "error", err)...)
		return fmt.Errorf("%s: %w", lt, err)
	}
	return nil
}

// Run is the daemon: each log is polled on the schedule, in its own
// goroutine, so a slow or failing log holds up no other. A poll still
// running when its next tick comes is not stacked: the tick is skipped.
// Transient and Duo-side errors are logged and retried at the next tick;
// fatal errors (Kafka refusing the configuration, unreadable cursors)
// stop the daemon. Run returns nil when ctx is cancelled.
func (r *Runner) Run(ctx context.Context) error {
	sched, err := config.ParseSchedule(r.cfg.Schedule)
	if err != nil {
		return err
	}
	r.daemon = true
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i, p := range r.pipelines {
		wg.Go(func() {
			r.loop(liveness.With(ctx, r.beats[i]), cancel, sched, r.logs[i], p)
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (r *Runner) loop(ctx context.Context, stop context.CancelCauseFunc, sched cron.Schedule, lt duo.LogType, p *pipeline.Pipeline) {
	for {
		err := r.poll(ctx, lt, p)
		if err != nil && pipeline.IsFatal(err) {
			stop(err)
			return
		}
		now := r.opts.Now()
		next := sched.Next(now)
		wait := next.Sub(now)
		if j := r.cfg.Jitter.D(); j > 0 {
			wait += time.Duration(rand.Int64N(int64(j)))
		}
		if err := sleepAlive(ctx, wait); err != nil {
			return
		}
	}
}

// sleepAlive waits d, marking the loop alive while it waits.
func sleepAlive(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		liveness.Mark(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-tick.C:
		}
	}
}

// DefaultStallAfter is how long a loop may show no progress (no request,
// retry, page or tick) before Alive says the daemon is stuck: longer than
// the slowest single step (a request's timeout plus the longest backoff).
const DefaultStallAfter = 5 * time.Minute

// Alive reports whether every log's loop has shown progress recently, for
// the systemd watchdog: a stuck loop stops the keep-alives, and systemd
// restarts the connector.
func (r *Runner) Alive() bool {
	for _, b := range r.beats {
		if b.Since() > r.opts.StallAfter {
			return false
		}
	}
	return true
}

// ParseLogs parses a comma-separated list of log types.
func ParseLogs(s string) ([]duo.LogType, error) {
	var out []duo.LogType
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		lt, err := duo.ParseLogType(part)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, lt) {
			return nil, fmt.Errorf("%s is listed twice", lt)
		}
		out = append(out, lt)
	}
	return out, nil
}
