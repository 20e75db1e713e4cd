// Package backfill is a one-shot read of a closed time range: its name and
// range from the command line's --since and --until, the range's bounds
// (Duo's horizon, the future), and its description beside its cursors (the
// range it was begun with, the logs that finished it), so that the same
// command continues an interrupted backfill and does not repeat a
// finished one.
package backfill

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
)

// Spec is a backfill as asked for.
type Spec struct {
	// Name identifies the backfill and its cursors (their Scope). It is
	// made from the range as given, so that rerunning the same command
	// continues the same backfill even when the range was given as
	// durations ago.
	Name string
	// Range is the range as given, for listings.
	Range string
	// Since and Until are the range. Begin replaces them with the range
	// an existing backfill was begun with.
	Since, Until time.Time
	// EventTime stamps messages with the records' time instead of the
	// time of publishing (the default for backfills, so that time-based
	// retention does not delete them at once).
	EventTime bool
	// Again starts the backfill over even if it exists (finished or not).
	Again bool
}

// UsageError is a range that cannot be read: the command line's mistake.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// Parse makes the Spec of --since and --until as given (until "": now as
// far as Duo shows it, now - lag). An end in the future is cut to now,
// and notice says so; a range wholly past Duo's retention, empty or
// reversed is a *UsageError.
func Parse(since, until string, now time.Time, lag time.Duration) (s Spec, notice string, err error) {
	if since == "" {
		return s, "", usagef("--since is required: the start of the range, e.g. --since 30d or --since 2026-11-01")
	}
	from, err := ParseWhen(since, now)
	if err != nil {
		return s, "", usagef("--since: %v", err)
	}
	// Now, as far as Duo shows it: a range that ends at now itself waits
	// for Duo's delay to pass its last minutes, and is not finished before.
	to, end := now.Add(-lag), "now - lag"
	asGiven := to // the name's end: the same command names the same backfill
	if until != "" {
		if to, err = ParseWhen(until, now); err != nil {
			return s, "", usagef("--until: %v", err)
		}
		end, asGiven = "--until", to
		if to.After(now) {
			notice = fmt.Sprintf("--until %s is in the future; the backfill ends now (%s)", to.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			to = now
		}
	}
	if !from.Before(to) {
		return s, "", usagef("--since (%s) must be before %s (%s)", from.Format(time.RFC3339), end, to.Format(time.RFC3339))
	}
	// The horizon reads stop at (duolog.Horizon: Duo's retention less a
	// day of margin), the same date the runner's warning gives.
	if horizon := now.Add(-duolog.Horizon); !to.After(horizon) {
		return s, "", usagef("the range ends at %s, before Duo's %d-day horizon (%s): Duo no longer has these records",
			to.UTC().Format(time.RFC3339), duolog.Retention/(24*time.Hour), horizon.UTC().Format(time.RFC3339))
	}
	return Spec{Name: name(since, until, from, asGiven), Range: describe(since, until), Since: from, Until: to}, notice, nil
}

// name names a backfill after its range as given: an absolute time by its
// instant, a duration by itself ("30d_ago"), so that the same command
// always names the same backfill.
func name(since, until string, from, to time.Time) string {
	part := func(arg string, t time.Time) string {
		if arg == "" {
			return "now"
		}
		if d, err := config.ParseDuration(arg); err == nil {
			return config.FormatDuration(d) + "_ago"
		}
		return t.UTC().Format("20060102T150405Z")
	}
	return part(since, from) + "-" + part(until, to)
}

// describe is the range as given, for listings.
func describe(since, until string) string {
	if until == "" {
		until = "now"
	}
	return "--since " + since + " --until " + until
}

// ParseWhen reads "now", an RFC 3339 time, a date (midnight UTC) or a
// duration before now.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither now, an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) nor a duration ago (30d, 36h, 1d12h)", s)
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

// Run is a backfill under way: its description where its cursors are.
type Run struct {
	store    checkpoint.BackfillStore
	record   checkpoint.Backfill
	finished map[string]bool
	resumed  bool
}

// Begin continues the backfill s names, with the range it was begun with
// (s's range is replaced), or records it as new (again when s.Again).
func Begin(ctx context.Context, store checkpoint.BackfillStore, s *Spec, now time.Time) (*Run, error) {
	rec, ok, err := store.LoadBackfill(ctx, s.Name)
	if err != nil {
		return nil, err
	}
	if ok && s.Again {
		if err := store.DeleteBackfill(ctx, s.Name); err != nil {
			return nil, err
		}
		ok = false
	}
	if !ok {
		rec = checkpoint.Backfill{Name: s.Name, Range: s.Range, Since: s.Since, Until: s.Until, Created: now.UTC()}
		return &Run{store: store, record: rec}, store.SaveBackfill(ctx, rec)
	}
	s.Since, s.Until = rec.Since, rec.Until
	r := &Run{store: store, record: rec, finished: map[string]bool{}, resumed: true}
	for k := range rec.Finished {
		r.finished[k] = true
	}
	return r, nil
}

// Resumed reports whether the backfill existed already.
func (r *Run) Resumed() bool { return r.resumed }

// Finished reports whether the log key (see FinishedKey) has delivered
// the whole range.
func (r *Run) Finished(key string) bool { return r.finished[key] }

// NothingLeft is the FinishedError of a continued backfill with no log
// left to read, or nil.
func (r *Run) NothingLeft(units int) error {
	if r.resumed && units == 0 {
		return &FinishedError{Backfill: r.record}
	}
	return nil
}

// Cover records the logs (see FinishedKey) the backfill reads, beside
// those it read before: its status lists each of them until it finished.
func (r *Run) Cover(ctx context.Context, keys []string) error {
	rec, ok, err := r.store.LoadBackfill(ctx, r.record.Name)
	if err != nil || !ok {
		return err
	}
	n := len(rec.Logs)
	for _, k := range keys {
		if !slices.Contains(rec.Logs, k) {
			rec.Logs = append(rec.Logs, k)
		}
	}
	if len(rec.Logs) == n {
		return nil
	}
	slices.Sort(rec.Logs)
	return r.store.SaveBackfill(ctx, rec)
}

// Finish records the logs (see FinishedKey) that delivered the whole
// range.
func (r *Run) Finish(ctx context.Context, keys []string, now time.Time) error {
	rec, ok, err := r.store.LoadBackfill(ctx, r.record.Name)
	if err != nil || !ok {
		return err
	}
	if rec.Finished == nil {
		rec.Finished = map[string]time.Time{}
	}
	for _, k := range keys {
		rec.Finished[k] = now.UTC()
	}
	return r.store.SaveBackfill(ctx, rec)
}

// FinishedKey names one log of one account (by its key) in a backfill's
// record of finished logs: the log alone for the account of duo.* (as
// before there were several accounts), else the account's key and the log.
func FinishedKey(cfg config.Config, accountKey string, lt duo.LogType) string {
	if _, _, discover := cfg.Discovery(); !discover && cfg.Duo.APIHost != "" {
		if accountKey == cfg.Accounts()[0].Key() {
			return string(lt)
		}
	}
	return accountKey + " " + string(lt)
}

// Status is how far a backfill is.
type Status struct {
	// Progress is the share of the range each log (by FinishedKey) has
	// delivered, 0 to 1.
	Progress map[string]float64
	// Done: every log asked for finished.
	Done bool
}

// StatusOf is b's status, given how far each of its logs' cursors (by
// FinishedKey) delivered; logs, when set, are the logs that must have
// finished.
func StatusOf(b checkpoint.Backfill, delivered map[string]time.Time, logs []duo.LogType) Status {
	st := Status{Progress: map[string]float64{}}
	if span := b.Until.Sub(b.Since); span > 0 {
		for k, t := range delivered {
			st.Progress[k] = min(max(float64(t.Sub(b.Since))/float64(span), 0), 1)
		}
	}
	for _, k := range b.Logs {
		if _, ok := st.Progress[k]; !ok {
			st.Progress[k] = 0 // not begun, or reset
		}
	}
	for k := range b.Finished {
		st.Progress[k] = 1
	}
	st.Done = len(b.Finished) > 0
	for k := range st.Progress {
		if _, ok := b.Finished[k]; !ok {
			st.Done = false
		}
	}
	for _, lt := range logs {
		if _, ok := b.Finished[string(lt)]; !ok {
			st.Done = false
		}
	}
	return st
}

// Progress is how far one log of a backfill is.
type Progress struct {
	Records int
	Rate    float64 // records a second
	// Covered is how far into the range the log was read; Fraction is
	// its share of the range, 0 to 1.
	Covered  time.Time
	Fraction float64
	ETA      time.Duration // 0 when unknown or done
}

// Progress estimates how far a log of the backfill is, given the records
// it published, its cursor, how far Duo confirmed it checked (a v1 log's
// cursor stays at its newest record) and the time elapsed.
func (s Spec) Progress(records int, cursor, checked time.Time, elapsed time.Duration) Progress {
	p := Progress{Records: records, Rate: float64(records) / max(elapsed.Seconds(), 1e-3), Covered: cursor}
	if checked.After(p.Covered) {
		p.Covered = checked
	}
	if p.Covered.Before(s.Since) {
		p.Covered = s.Since
	}
	if !p.Covered.Before(s.Until.Truncate(time.Second)) {
		// At the end: v1 logs read whole seconds, so theirs stops at the
		// end's second.
		p.Covered = s.Until
	}
	if span := s.Until.Sub(s.Since); span > 0 {
		p.Fraction = min(1, float64(p.Covered.Sub(s.Since))/float64(span))
	}
	if p.Fraction > 0 && p.Fraction < 1 {
		p.ETA = time.Duration(float64(elapsed) * (1 - p.Fraction) / p.Fraction)
	}
	return p
}
