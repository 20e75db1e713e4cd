// Package runner is the scheduler: every (account, log) is a unit with its
// own pipeline and cursor, given turns of a few pages by a fixed set of
// workers from one queue ordered by when each is due, once (run --once,
// backfill) or on the schedule (the daemon). It finds an MSP's children
// again as they come and go, and reports a log that stalls.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/fault"
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

// Options adjust a Runner.
type Options struct {
	// Logs, when set, restricts the run to these log types.
	Logs []duo.LogType
	// Accounts, when set, restricts the run to the accounts these name
	// (see accounts.Account.Matches).
	Accounts []string
	// Backfill, when set, makes this a backfill (its range is replaced by
	// the one an existing backfill was begun with).
	Backfill *backfill.Spec
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Metrics, when set, counts what the run does.
	Metrics *metrics.Metrics
	// StallAfter is how long a log's loop may show no progress before
	// Alive reports the runner stuck (default DefaultStallAfter).
	StallAfter time.Duration
	// Owns, when set, chooses the (account key, log) units this runner
	// polls: in cluster mode, those of the state partitions it was
	// assigned.
	Owns func(account, log string) bool
	// UnavailableRecheck is how often a log the account does not have is
	// asked for again (default an hour: an MSP may have thousands of such
	// accounts); UnavailableRemind, how often its absence is logged again
	// (default a day).
	UnavailableRecheck, UnavailableRemind time.Duration
}

// Parts are what a Runner reads with and writes to, built by the
// composition root (package app). The Runner owns them: Close releases
// them (but not Store, when it is not Files).
type Parts struct {
	Normalizer *normalize.Normalizer
	// Duo is the configuration's one account's client, or the client of
	// an MSP parent: every account's client (ForAccount) shares its
	// transport.
	Duo       *duo.Client
	Publisher *publish.Publisher
	// Files is the state directory, when the cursors are kept there.
	Files *checkpoint.FileStore
	// Store keeps the cursors (default Files): with checkpoint.store:
	// kafka, the state topic (its owner closes it). A backfill's store
	// keeps its description too (checkpoint.BackfillStore).
	Store checkpoint.Store
}

// Close releases the parts the Runner owns.
func (p Parts) Close() error {
	if p.Duo != nil {
		p.Duo.CloseIdleConnections()
	}
	var errs []error
	if p.Publisher != nil {
		errs = append(errs, p.Publisher.Close())
	}
	if p.Normalizer != nil {
		errs = append(errs, p.Normalizer.Close())
	}
	if p.Files != nil {
		errs = append(errs, p.Files.Close())
	}
	return errors.Join(errs...)
}

// Runner runs the configured logs of the configured accounts: every
// (account, log) is a unit with its own cursor, polled by a fixed set of
// workers in turns, so that memory and goroutines do not grow with the
// accounts and no account's backlog starves the others.
type Runner struct {
	cfg      config.Config
	logger   *slog.Logger
	parts    Parts
	inFlight *pipeline.InFlight
	opts     Options
	// againAfter is how long a read that Duo's answer stopped short
	// waits: the schedule's interval, within [1s, 15s].
	againAfter time.Duration
	daemon     bool // Run, not Once: failed polls are tried again
	logs       []duo.LogType
	backfill   *backfill.Run // with Options.Backfill
	queue      *queue
	beats      []*liveness.Beat

	// discovery, when set, finds the accounts: an MSP's children.
	discovery *accounts.Discovery

	mu       sync.Mutex
	accounts map[string]*account // by accounts.Account.Key
	order    []*account
	labels   map[string]string // the accounts' labels, to their keys
}

// account is one account's client and units.
type account struct {
	acct    accounts.Account
	client  *duo.Client
	units   []*unit
	removed atomic.Bool // no longer listed: its units are not polled again
	// discovered: an MSP child found by listing, which a later listing
	// may remove; the accounts of the configuration stay.
	discovered bool
}

// unit is one log of one account.
type unit struct {
	acct *account
	lt   duo.LogType
	p    *pipeline.Pipeline
	// scheduling (guarded by the queue's lock)
	due    time.Time
	seq    uint64
	index  int
	queued bool
	// running: a worker has it; requeue(At): pushed meanwhile, for then.
	running   bool
	requeue   bool
	requeueAt time.Time
	// err is the last poll's error (Once).
	err error
	// idleTurns counts the turns in a row Duo answered without progress
	// (a worker's at a time); stalled is set past stall_turns.
	idleTurns int
	stalled   atomic.Bool
	// waitLogged: a backfill's wait for Duo's delay was said.
	waitLogged bool
	// poll counts the poll in progress over its turns (a worker's at a
	// time).
	poll pollStats
	// unavailableSaid is when the log's absence from the account was
	// last logged (zero: it is available, or not yet known absent).
	unavailableSaid time.Time
	// skipped: the account does not have the log (Once).
	skipped bool
}

// UnavailableError is a log the account does not have (duo.Unavailable):
// it is skipped, checked again after RecheckAfter, and not a failure.
type UnavailableError struct {
	Account, Log string
	Err          error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s %s: not available for this account: %v", e.Account, e.Log, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// pollStats is what one poll of a unit did so far.
type pollStats struct {
	pipeline.Stats
	start time.Time // zero: no poll in progress
}

// turnPages is how many pages a unit publishes before the others get a
// turn.
const turnPages = 8

// New builds a Runner: it takes the state directory's lock, finds the
// accounts (listing an MSP's children) and loads every cursor, so a second
// daemon or an unreadable cursor fails here, before anything is read or
// written.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, parts Parts, opts Options) (*Runner, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = DefaultStallAfter
	}
	if opts.UnavailableRecheck <= 0 {
		opts.UnavailableRecheck = time.Hour
	}
	if opts.UnavailableRemind <= 0 {
		opts.UnavailableRemind = 24 * time.Hour
	}
	static := cfg.Accounts()
	parent, filter, discover := cfg.Discovery()
	if parts.Store == nil {
		parts.Store = parts.Files
	}
	backfills, _ := parts.Store.(checkpoint.BackfillStore)
	if opts.Backfill != nil && backfills == nil {
		parts.Close()
		return nil, errors.New("a backfill keeps its description beside its cursors: its cursors' store cannot")
	}
	againAfter := 15 * time.Second
	if sched, err := config.ParseSchedule(cfg.Schedule); err == nil {
		now := opts.Now()
		againAfter = min(max(sched.Next(now).Sub(now), time.Second), againAfter)
	}
	r := &Runner{
		cfg: cfg, logger: logger, parts: parts, opts: opts, againAfter: againAfter,
		inFlight: pipeline.NewInFlight(cfg.PagesInFlight), queue: newQueue(),
		accounts: map[string]*account{}, labels: map[string]string{},
	}
	for range cfg.ConcurrentPolls {
		r.beats = append(r.beats, liveness.NewBeat())
	}
	var children []accounts.Account
	var err error
	if discover {
		r.discovery = &accounts.Discovery{Parent: parent, Filter: filter, Refresh: cfg.Duo.ChildAccounts.Refresh.D(), Names: opts.Accounts, List: parts.Duo.ChildAccounts}
		if children, err = r.discovery.Children(ctx); err != nil {
			r.Close()
			return nil, err
		}
	}
	if len(opts.Accounts) > 0 {
		if _, err := accounts.Select(slices.Concat(static, children), opts.Accounts); err != nil {
			r.Close()
			return nil, err
		}
		static, _ = accounts.Matching(static, opts.Accounts)
		children, _ = accounts.Matching(children, opts.Accounts)
	}
	all := slices.Concat(static, children)
	if len(all) == 0 && !discover {
		r.Close()
		return nil, errors.New("no Duo account to read: set duo.api_host, ikey and skey, or list accounts")
	}
	r.logs = logsOf(all, opts.Logs)
	if b := opts.Backfill; b != nil {
		if r.backfill, err = backfill.Begin(ctx, backfills, b, opts.Now()); err != nil {
			r.Close()
			return nil, err
		}
		if horizon := opts.Now().Add(-duolog.Horizon); b.Since.Before(horizon) {
			logger.Warn("the backfill starts before Duo's 180-day horizon: records older than it are gone from Duo; starting at the horizon",
				"since", b.Since.UTC().Format(time.RFC3339), "horizon", horizon.UTC().Format(time.RFC3339))
		}
	}
	if err := r.addAccounts(ctx, static, false); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.addAccounts(ctx, children, true); err != nil {
		r.Close()
		return nil, err
	}
	if r.backfill != nil {
		if err := r.backfill.NothingLeft(r.units()); err != nil {
			r.Close()
			return nil, err
		}
		var keys []string
		for _, a := range r.order {
			for _, u := range a.units {
				keys = append(keys, r.finishedKey(a.acct, u.lt))
			}
		}
		if err := r.backfill.Cover(ctx, keys); err != nil {
			r.Close()
			return nil, err
		}
		if b := opts.Backfill; r.backfill.Resumed() { // not said of one already finished
			logger.Info("continuing backfill", "backfill", b.Name, "since", b.Since.UTC().Format(time.RFC3339), "until", b.Until.UTC().Format(time.RFC3339))
		}
	}
	return r, nil
}

// units counts the units of the accounts read.
func (r *Runner) units() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.order {
		n += len(a.units)
	}
	return n
}

// logsOf lists the log types any of the accounts reads, restricted to only
// when set, in duo.LogTypes order.
func logsOf(all []accounts.Account, only []duo.LogType) []duo.LogType {
	var out []duo.LogType
	for _, lt := range duo.LogTypes {
		if len(only) > 0 && !slices.Contains(only, lt) {
			continue
		}
		for _, a := range all {
			if slices.Contains(a.Logs, lt) {
				out = append(out, lt)
				break
			}
		}
	}
	if len(only) > 0 && len(out) == 0 {
		return only
	}
	return out
}

// addAccounts starts reading the accounts not read yet (and again those
// removed and now listed again), their units queued log by log, so that
// the first polls of many accounts interleave rather than wait on one
// account's budget.
func (r *Runner) addAccounts(ctx context.Context, all []accounts.Account, discovered bool) error {
	var added []*account
	for _, a := range all {
		r.mu.Lock()
		have := r.accounts[a.Key()]
		r.mu.Unlock()
		if have != nil {
			if have.removed.Load() {
				r.logger.Info("account listed again; reading it again", "account", have.acct.Label())
				have.removed.Store(false)
				added = append(added, have)
			}
			continue
		}
		a = r.uniqueLabel(a)
		acct, err := r.newAccount(ctx, a)
		if err != nil {
			return err
		}
		acct.discovered = discovered
		if len(acct.units) == 0 {
			continue
		}
		r.mu.Lock()
		r.accounts[a.Key()] = acct
		r.order = append(r.order, acct)
		r.mu.Unlock()
		added = append(added, acct)
	}
	now := r.opts.Now()
	for _, lt := range duo.LogTypes {
		for _, acct := range added {
			for _, u := range acct.units {
				if u.lt == lt {
					r.queue.push(u, now)
				}
			}
		}
	}
	return nil
}

// uniqueLabel gives a an unused label: its name, or, when another account
// has that name (two MSP children may), its name and key, so that their
// metrics, readiness and logs are never mixed.
func (r *Runner) uniqueLabel(a accounts.Account) accounts.Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key, taken := r.labels[a.Label()]; taken && key != a.Key() {
		a = a.WithLabel(fmt.Sprintf("%s (%s)", a.Label(), a.Key()))
		r.logger.Warn("two accounts have one name; this one is labelled with its key too", "account", a.Label())
	}
	r.labels[a.Label()] = a.Key()
	return a
}

// newAccount makes an account's client and loads its units' cursors.
func (r *Runner) newAccount(ctx context.Context, a accounts.Account) (*account, error) {
	client, err := r.parts.Duo.ForAccount(a.DuoAccount())
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a.Label(), err)
	}
	acct := &account{acct: a, client: client}
	for _, lt := range a.Logs {
		if !slices.Contains(r.logs, lt) || r.opts.Owns != nil && !r.opts.Owns(a.Key(), string(lt)) {
			continue
		}
		if r.backfill != nil && r.backfill.Finished(r.finishedKey(a, lt)) {
			continue
		}
		popts := pipeline.Options{
			InFlight:        r.inFlight,
			MaxMessageBytes: r.cfg.Kafka.BatchBytes,
			Host:            a.APIHost,
			Account:         a,
			Key:             checkpoint.Key{Account: a.Key(), Log: string(lt)},
			Topic:           r.cfg.Kafka.Topic,
			PublishTime:     r.cfg.Kafka.MessageTimestamp == "publish",
			ShutdownTimeout: r.cfg.ShutdownTimeout.D(),
			Reader: duolog.Options{
				Lag:             r.cfg.Lag.D(),
				InitialLookback: r.cfg.InitialLookback.D(),
				TelephonyV1:     r.cfg.Duo.TelephonyV1,
				Now:             r.opts.Now,
				AgainAfter:      r.againAfter,
			},
			Logger: r.logger.With("account", a.Label(), "log", string(lt)),
		}
		if r.opts.Metrics != nil {
			popts.Observer = r.opts.Metrics
		}
		if b := r.opts.Backfill; b != nil {
			popts.Key.Scope = b.Name
			popts.PublishTime = !b.EventTime
			popts.Reader.Until = b.Until
			popts.Reader.Start = b.Since // with no backfill cursor yet
		}
		p, err := pipeline.New(ctx, client, lt, r.parts.Normalizer, r.parts.Publisher, r.parts.Store, popts)
		if err != nil {
			return nil, err
		}
		acct.units = append(acct.units, &unit{acct: acct, lt: lt, p: p})
		if m := r.opts.Metrics; m != nil {
			m.Track(a.Label(), lt, lt.Path(r.cfg.Duo.TelephonyV1))
			m.CursorAt(a.Label(), lt, p.CursorTime(), p.CheckedThrough())
		}
	}
	return acct, nil
}

// finishedKey names a unit in a backfill's record of finished logs.
func (r *Runner) finishedKey(a accounts.Account, lt duo.LogType) string {
	return backfill.FinishedKey(r.cfg, a.Key(), lt)
}

// Check tries, before a one-shot run, whether Duo and Kafka can be
// reached at all: a mistake of configuration (a name that does not
// resolve, a refused connection, a certificate not trusted, a refused
// credential or topic) fails it at once with its fix, instead of after
// minutes of retries. Trouble that may pass is only logged: the run's own
// retries are patient with it. With several accounts, one account's
// refusal is only logged: the run reads the others and reports it.
func (r *Runner) Check(ctx context.Context) error {
	var errs []error
	accts := r.Accounts()
	if len(accts) == 1 {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.client(accts[0]).Check(dctx)
		cancel()
		switch {
		case err == nil:
		case fault.Of(err) != fault.Transient:
			errs = append(errs, fmt.Errorf("duo: %w", err))
		default:
			r.logger.Warn("duo did not answer the first request; retrying as the run goes", "error", err)
		}
	}
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := r.parts.Publisher.Check(kctx, r.Topics()...)
	cancel()
	switch kind := fault.Of(err); {
	case err == nil:
	case kind == fault.Permanent && len(accts) > 1:
		// One account's topic: the run reads the others and reports it.
		r.logger.Error("kafka refuses a topic; the logs written there fail, the others are read", "error", err)
	case kind != fault.Transient:
		errs = append(errs, err)
	default:
		r.logger.Warn("kafka did not answer the first request; retrying as the run goes", "error", err)
	}
	return errors.Join(errs...)
}

func (r *Runner) client(a accounts.Account) *duo.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accounts[a.Key()].client
}

// Logs returns the log types the runner runs.
func (r *Runner) Logs() []duo.LogType { return r.logs }

// Accounts returns the accounts the runner reads (not those removed).
func (r *Runner) Accounts() []accounts.Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []accounts.Account
	for _, a := range r.order {
		if !a.removed.Load() {
			out = append(out, a.acct)
		}
	}
	return out
}

// Close releases the publisher and the state directory, and stops
// reporting the runner's units.
func (r *Runner) Close() error {
	if m := r.opts.Metrics; m != nil {
		r.mu.Lock()
		for _, a := range r.order {
			for _, u := range a.units {
				m.Untrack(a.acct.Label(), u.lt)
			}
		}
		r.mu.Unlock()
	}
	return r.parts.Close()
}

// Publisher returns the Kafka publisher (for health checks).
func (r *Runner) Publisher() *publish.Publisher { return r.parts.Publisher }

// Topics returns the Kafka topics the runner writes to.
func (r *Runner) Topics() []string {
	accts := r.Accounts()
	for i := range accts {
		accts[i].Logs = slices.DeleteFunc(slices.Clone(accts[i].Logs), func(lt duo.LogType) bool { return !slices.Contains(r.logs, lt) })
	}
	return r.cfg.Topics(accts)
}

// Once drains every unit up to now − lag (or the backfill's end), and
// returns the errors of the units that failed.
func (r *Runner) Once(ctx context.Context) error {
	var units []*unit
	r.mu.Lock()
	for _, a := range r.order {
		units = append(units, a.units...)
	}
	r.mu.Unlock()
	r.queue.closeWhenIdle()
	r.work(ctx, func(u *unit, err error, more bool) {
		var later *duo.RetryLaterError
		var unavailable *UnavailableError
		switch {
		case errors.As(err, &unavailable):
			u.skipped = true // said as a warning by poll; not a failure
		case errors.As(err, &later):
			r.queue.push(u, r.opts.Now().Add(later.Wait))
		case more && err == nil:
			r.queue.push(u, r.opts.Now())
		case err == nil && r.backfillPending(u):
			// The range ends within Duo's availability delay: its last
			// records are not readable yet. Finished only once read.
			r.queue.push(u, r.opts.Now().Add(r.cfg.Lag.D()/10))
		default:
			u.err = err
		}
	})
	var errs []error
	var done []*unit
	for _, u := range units {
		if u.err != nil {
			errs = append(errs, u.err)
		} else if ctx.Err() == nil && !u.skipped {
			done = append(done, u)
		}
	}
	if r.backfill != nil {
		keys := make([]string, len(done))
		for i, u := range done {
			keys[i] = r.finishedKey(u.acct.acct, u.lt)
		}
		if err := r.backfill.Finish(ctx, keys, r.opts.Now()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// backfillPending reports a backfill unit caught up to now − lag but not
// yet to the backfill's end (which Duo does not show yet): it must wait,
// said once.
func (r *Runner) backfillPending(u *unit) bool {
	b := r.opts.Backfill
	if b == nil {
		return false
	}
	end := b.Until
	if u.p.V1() {
		end = end.Truncate(time.Second)
	}
	if !u.p.CheckedThrough().Before(end) {
		return false
	}
	if !u.waitLogged {
		u.waitLogged = true
		r.logger.Info("waiting for Duo's availability delay: the backfill's last records are not readable yet",
			"account", u.acct.acct.Label(), "log", string(u.lt), "until", end.UTC().Format(time.RFC3339),
			"readable_at", end.Add(r.cfg.Lag.D()).UTC().Format(time.RFC3339))
	}
	return true
}

// work runs the workers until the queue closes or ctx ends; after each
// turn, next decides what becomes of the unit.
func (r *Runner) work(ctx context.Context, next func(u *unit, err error, more bool)) {
	var wg sync.WaitGroup
	for _, beat := range r.beats {
		wg.Go(func() {
			ctx := liveness.With(ctx, beat)
			for {
				u, ok := r.queue.pop(ctx, r.opts.Now)
				if !ok {
					return
				}
				if u.acct.removed.Load() { // queued before it was removed
					r.queue.finished(u)
					continue
				}
				more, err := r.poll(ctx, u)
				next(u, err, more)
				r.queue.finished(u)
			}
		})
	}
	wg.Wait()
}

// poll gives one unit a turn and logs the outcome. A poll is the turns
// from the first after a unit was due to the one that finds it caught up
// (or fails): what it published is counted over all of them.
func (r *Runner) poll(ctx context.Context, u *unit) (more bool, err error) {
	if u.poll.start.IsZero() {
		u.poll = pollStats{start: time.Now()}
	}
	before := u.p.Progress()
	turn, more, err := u.p.DrainPages(ctx, turnPages)
	u.poll.Pages += turn.Pages
	u.poll.Records += turn.Records
	u.poll.Malformed += turn.Malformed
	st, started := u.poll.Stats, u.poll.start
	label, lt, p := u.acct.acct.Label(), u.lt, u.p
	var later *duo.RetryLaterError
	if (err == nil || errors.As(err, &later)) && ctx.Err() == nil {
		if stall := r.checkProgress(u, before); stall != nil && !r.daemon {
			return false, stall
		}
	}
	if _, ok := duo.Unavailable(err); ok {
		return false, r.unavailable(u, err)
	}
	if err == nil && !u.unavailableSaid.IsZero() {
		u.unavailableSaid = time.Time{}
		r.logger.Info("log available for this account now: reading it", "account", label, "log", string(lt))
		if m := r.opts.Metrics; m != nil {
			m.Unavailable(label, lt, "")
		}
	}
	if errors.As(err, &later) {
		// The account's budget or backoff: another unit's turn meanwhile.
		if m := r.opts.Metrics; m != nil {
			if turn.Pages > 0 {
				m.CursorAt(label, lt, p.CursorTime(), p.CheckedThrough())
			}
			if later.Err != nil || turn.Pages > 0 {
				m.Retrying(label, lt, later.Err) // said by /readyz
			}
		}
		return false, later
	}
	if m := r.opts.Metrics; m != nil && !more {
		m.PollFinished(label, lt, err)
		if nse := (*pipeline.CursorNotSavedError)(nil); errors.As(err, &nse) {
			m.CursorNotSaved(label, lt, err)
		}
	}
	if m := r.opts.Metrics; m != nil && err == nil {
		m.CursorAt(label, lt, p.CursorTime(), p.CheckedThrough())
	}
	if !more {
		u.poll.start = time.Time{} // the next turn begins the next poll
	}
	attrs := []any{"account", label, "log", string(lt), "records", st.Records, "pages", st.Pages,
		"malformed", st.Malformed, "duration", time.Since(started).Round(time.Millisecond),
		"cursor", p.CursorTime().UTC().Format(time.RFC3339)}
	switch {
	case err == nil && more:
		r.logger.Debug("turn finished; more to read", attrs...)
	case err == nil && st.Records == 0 && st.Malformed == 0:
		// Quiet: with a thousand accounts, a line per empty poll would be
		// thousands a minute. Lag and readiness show a log that falls
		// behind; a failure is an ERROR.
		r.logger.Debug("poll finished", attrs...)
	case err == nil:
		r.logger.Info("poll finished", attrs...)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		r.logger.Info("poll stopped", attrs...)
		return false, nil
	case r.daemon && fault.Of(err) != fault.Fatal:
		r.logger.Error("poll failed; will try again on the next poll", append(attrs, "error", err)...)
		return false, fmt.Errorf("%s %s: %w", label, lt, err)
	default:
		r.logger.Error("poll failed", append(attrs, "error", err)...)
		return false, fmt.Errorf("%s %s: %w", label, lt, err)
	}
	return more, nil
}

// unavailable records that u's account does not have its log: logged
// when first seen and once a day after, reported by the metrics and
// readiness, never counted as the account failing.
func (r *Runner) unavailable(u *unit, err error) error {
	label, lt := u.acct.acct.Label(), u.lt
	u.poll.start = time.Time{}
	now := r.opts.Now()
	if u.unavailableSaid.IsZero() || now.Sub(u.unavailableSaid) >= r.opts.UnavailableRemind {
		u.unavailableSaid = now
		r.logger.Warn("log not available for this account: skipped (not a failure); asked for again every hour, said again daily",
			"account", label, "log", string(lt), "reason", err)
	}
	if m := r.opts.Metrics; m != nil {
		m.Unavailable(label, lt, err.Error())
	}
	return &UnavailableError{Account: label, Log: string(lt), Err: err}
}

// StalledError is a log that Duo answers but that does not move: its
// cursor stays, and Duo does not confirm it caught up.
type StalledError struct {
	Account, Log string
	Turns        int
	Cursor       time.Time
}

func (e *StalledError) Error() string {
	return fmt.Sprintf("%s %s: stalled: %d turns of answers from Duo without progress, cursor at %s (a Duo fault or a connector bug: report it with the log above)",
		e.Account, e.Log, e.Turns, e.Cursor.UTC().Format(time.RFC3339))
}

// checkProgress counts the turns in which Duo answered u without its
// cursor moving or Duo confirming it caught up further: past
// stall_turns in a row the unit is stalled, said once as an ERROR, in
// its metrics and readiness, until it moves again. It returns the stall.
func (r *Runner) checkProgress(u *unit, before pipeline.Progress) *StalledError {
	progressed, answered := u.p.Progress().Since(before)
	label, lt := u.acct.acct.Label(), u.lt
	switch {
	case progressed:
		u.idleTurns = 0
		if u.stalled.Swap(false) {
			r.logger.Info("log moves again after a stall", "account", label, "log", string(lt))
			if m := r.opts.Metrics; m != nil {
				m.Stalled(label, lt, "")
			}
		}
		return nil
	case !answered:
		return nil // waiting for the budget, or nothing to ask yet
	}
	u.idleTurns++
	if u.idleTurns < r.cfg.StallTurns {
		return nil
	}
	stall := &StalledError{Account: label, Log: string(lt), Turns: u.idleTurns, Cursor: u.p.CursorTime()}
	if !u.stalled.Swap(true) {
		r.logger.Error("log stalled: Duo answers, but its cursor does not move and Duo does not confirm it caught up",
			"account", label, "log", string(lt), "turns", u.idleTurns,
			"cursor", u.p.CursorTime().UTC().Format(time.RFC3339), "checked_through", u.p.CheckedThrough().UTC().Format(time.RFC3339))
		if m := r.opts.Metrics; m != nil {
			m.Stalled(label, lt, stall.Error())
		}
	}
	return stall
}

// Run is the daemon: each unit is polled on the schedule by the workers;
// a unit with more to read is queued again at once, behind the units
// already due, and a caught-up one at its next tick. Transient and
// Duo-side errors (one account's revoked keys among them) are logged and
// retried at the unit's next tick; fatal errors (Kafka refusing the
// configuration, unreadable cursors) stop the daemon. Run returns nil
// when ctx is cancelled.
func (r *Runner) Run(ctx context.Context) error {
	sched, err := config.ParseSchedule(r.cfg.Schedule)
	if err != nil {
		return err
	}
	r.daemon = true
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	if r.discovery != nil {
		wg.Go(func() { r.rediscover(ctx, cancel) })
	}
	r.work(ctx, func(u *unit, err error, more bool) {
		var later *duo.RetryLaterError
		var unavailable *UnavailableError
		switch {
		case u.acct.removed.Load():
			return
		case errors.As(err, &unavailable):
			r.queue.push(u, r.opts.Now().Add(r.opts.UnavailableRecheck))
			return
		case errors.As(err, &later):
			r.queue.push(u, r.opts.Now().Add(later.Wait))
			return
		case err != nil && fault.Of(err) == fault.Fatal:
			cancel(err)
			return
		case more:
			r.queue.push(u, r.opts.Now())
			return
		}
		now := r.opts.Now()
		due := sched.Next(now)
		if j := r.cfg.Jitter.D(); j > 0 {
			due = due.Add(time.Duration(rand.Int64N(int64(j))))
		}
		r.queue.push(u, due)
	})
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// rediscover follows the children as they are listed again: a new child
// starts at initial_lookback, a child no longer listed (or excluded)
// stops being polled; its cursors stay, so that it resumes where it
// stopped if it comes back. A failed listing keeps the accounts as they
// are.
func (r *Runner) rediscover(ctx context.Context, stop context.CancelCauseFunc) {
	r.discovery.Watch(ctx, func(children []accounts.Account) {
		listed := map[string]bool{}
		for _, c := range children {
			listed[c.Key()] = true
		}
		r.mu.Lock()
		for _, a := range r.order {
			if a.discovered && !a.removed.Load() && !listed[a.acct.Key()] {
				a.removed.Store(true)
				r.logger.Info("child account no longer listed (or excluded); it is not read any more, its cursors are kept", "account", a.acct.Label())
				if m := r.opts.Metrics; m != nil {
					m.Forget(a.acct.Label())
				}
			}
		}
		r.mu.Unlock()
		before := len(r.Accounts())
		if err := r.addAccounts(ctx, children, true); err != nil {
			if fault.Of(err) == fault.Fatal {
				stop(err)
				return
			}
			r.logger.Error("starting a child account failed", "error", err)
		}
		if n := len(r.Accounts()); n != before {
			r.logger.Info("child accounts refreshed", "accounts", n)
		}
	}, func(err error) {
		r.logger.Error("listing child accounts failed; reading the accounts known so far", "error", err)
	})
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
	// Every log stalled: nothing is read at all, and a restart is the
	// last thing left to try. One stalled log among others is reported,
	// not worth stopping the others for.
	r.mu.Lock()
	defer r.mu.Unlock()
	n, stalled := 0, 0
	for _, a := range r.order {
		for _, u := range a.units {
			n++
			if u.stalled.Load() {
				stalled++
			}
		}
	}
	return n == 0 || stalled < n
}
