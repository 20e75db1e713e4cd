package duolog_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// clock is a settable clock shared by the fake Duo and the readers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	srv    *duotest.Server
	client *duo.Client
	clock  *clock
	gen    *duotest.Generator
}

func newEnv(t testing.TB, cfg func(*duo.Config), opts ...duotest.Option) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}
	srv := duotest.New(t, append([]duotest.Option{duotest.WithClock(clk.Now)}, opts...)...)
	c := srv.ClientConfig()
	c.Now = clk.Now
	if cfg != nil {
		cfg(&c)
	}
	client, err := duo.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, client: client, clock: clk, gen: duotest.NewGenerator(42)}
}

func (e *env) reader(t duo.LogType, cur *duolog.Cursor, lookback time.Duration) *duolog.Reader {
	return duolog.NewReader(e.client, t, cur, duolog.Options{
		Lag: 5 * time.Minute, InitialLookback: lookback, Now: e.clock.Now,
	})
}

// step is one delivered page and the cursor saved after it.
type step struct {
	records []string
	cursor  duolog.Cursor
	through time.Time
}

// drain reads until the reader has nothing more now.
func drain(t testing.TB, r *duolog.Reader) []step {
	t.Helper()
	return drainContext(t, r, context.Background(), 10000)
}

// drainContext reads under ctx until the reader has nothing more now,
// failing after calls calls. A call given up for a while (the budget
// spent, a failure to retry) is made again once the wait is over.
func drainContext(t testing.TB, r *duolog.Reader, ctx context.Context, calls int) []step {
	t.Helper()
	var steps []step
	for i := 0; ; i++ {
		if i > calls {
			t.Fatalf("no end after %d calls (%d pages): the reader starts over or loops", calls, len(steps))
		}
		p, err := r.Next(ctx)
		var later *duo.RetryLaterError
		if errors.As(err, &later) {
			time.Sleep(later.Wait)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		r.Advance(p.Cursor)
		s := step{cursor: p.Cursor, through: p.Through}
		for _, rec := range p.Records {
			s.records = append(s.records, string(rec))
		}
		steps = append(steps, s)
		if !p.More {
			return steps
		}
	}
}

func records(steps []step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.records...)
	}
	return out
}

// exactlyOnce fails unless got holds every record of want once, no more.
func exactlyOnce(t testing.TB, got []string, want []duotest.Record) {
	t.Helper()
	count := map[string]int{}
	for _, r := range want {
		count[string(r.Raw)]++
	}
	for _, g := range got {
		count[g]--
	}
	var missing, extra int
	for _, n := range count {
		if n > 0 {
			missing += n
		} else if n < 0 {
			extra -= n
		}
	}
	if missing > 0 || extra > 0 {
		t.Fatalf("delivered %d records for %d: %d missing, %d duplicated or unknown", len(got), len(want), missing, extra)
	}
}

func logTypesUnderTest() []struct {
	name string
	typ  duo.LogType
	v1   bool
} {
	return []struct {
		name string
		typ  duo.LogType
		v1   bool
	}{
		{"auth", duo.Auth, false},
		{"telephony_v2", duo.Telephony, false},
		{"admin", duo.Admin, true},
		{"offline", duo.Offline, true},
		{"telephony_v1", duo.Telephony, true},
		{"activity", duo.Activity, false},
		{"trust_monitor", duo.TrustMonitor, false},
	}
}

// sourceRecords makes a random record set for a log type: spread over the
// last hours, with bursts of many records in one second (one larger than
// a page), and some too young to be read yet.
func (e *env) sourceRecords(typ duo.LogType, v1 bool, seed int) []duotest.Record {
	now := e.clock.Now()
	gen := duotest.NewGenerator(uint64(seed))
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	one := func(at time.Time) duotest.Record {
		if v1 && typ == duo.Telephony {
			return gen.TelephonyV1(at)
		}
		return gen.Record(typ, at)
	}
	var recs []duotest.Record
	for range 3000 {
		recs = append(recs, one(now.Add(-time.Duration(rng.Int64N(int64(6*time.Hour))))))
	}
	for _, b := range []struct {
		ago time.Duration
		n   int
	}{{5 * time.Hour, 2500}, {3 * time.Hour, 400}, {90 * time.Minute, 999}, {3 * time.Minute, 50}} {
		sec := now.Add(-b.ago).Truncate(time.Second)
		for i := range b.n {
			recs = append(recs, one(sec.Add(time.Duration(i)*time.Microsecond)))
		}
	}
	return recs
}

// TestExactlyOnceAcrossRestarts drains every log from a random record set,
// then restarts a reader from every cursor saved along the way and checks
// it delivers exactly the records after that cursor; then time passes, the
// records that were too young become readable, and they arrive once.
func TestExactlyOnceAcrossRestarts(t *testing.T) {
	for i, lt := range logTypesUnderTest() {
		t.Run(lt.name, func(t *testing.T) {
			e := newEnv(t, nil, duotest.WithSeed(uint64(i)))
			src := e.sourceRecords(lt.typ, lt.v1, i+1)
			e.srv.Add(src...)
			opts := duolog.Options{Lag: 5 * time.Minute, InitialLookback: 7 * time.Hour, Now: e.clock.Now, TelephonyV1: lt.v1 && lt.typ == duo.Telephony}
			start := duolog.NewReader(e.client, lt.typ, nil, opts).Cursor()

			steps := drain(t, duolog.NewReader(e.client, lt.typ, &start, opts))
			cutoff := e.clock.Now().Add(-opts.Lag)
			var readable, young []duotest.Record
			for _, r := range src {
				if (lt.v1 && r.Time.Unix() > cutoff.Unix()) || (!lt.v1 && r.Time.UnixMilli() > cutoff.UnixMilli()) {
					young = append(young, r)
				} else {
					readable = append(readable, r)
				}
			}
			if len(young) == 0 {
				t.Fatal("test setup: no records younger than the lag")
			}
			exactlyOnce(t, records(steps), readable)

			// Resume from each saved cursor: exactly the rest, once.
			all := records(steps)
			delivered := 0
			for k, s := range steps {
				delivered += len(s.records)
				rest := records(drain(t, duolog.NewReader(e.client, lt.typ, &s.cursor, opts)))
				if !sameMultiset(rest, all[delivered:]) {
					t.Fatalf("resuming after page %d of %d: got %d records, want the %d after it", k, len(steps), len(rest), len(all)-delivered)
				}
			}

			// Time passes: the young records become readable.
			e.clock.Advance(10 * time.Minute)
			last := steps[len(steps)-1].cursor
			more := records(drain(t, duolog.NewReader(e.client, lt.typ, &last, opts)))
			exactlyOnce(t, append(all, more...), src)
		})
	}
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestLateRecordsAtBoundarySecond adds records to the second a v1 cursor
// stands on after it was saved: they are delivered, the earlier ones not
// again. Identical records in one second are counted, not merged.
func TestLateRecordsAtBoundarySecond(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	sec := now.Add(-time.Hour).Truncate(time.Second)
	first := e.gen.Burst(duo.Admin, sec, 30)
	first = append(first, first[0], first[0]) // three identical records
	e.srv.Add(first...)
	r := e.reader(duo.Admin, nil, 2*time.Hour)
	got := records(drain(t, r))
	exactlyOnce(t, got, first)

	late := e.gen.Burst(duo.Admin, sec, 5)
	late = append(late, first[0]) // a fourth identical one arrives late
	e.srv.Add(late...)
	cur := r.Cursor()
	got2 := records(drain(t, e.reader(duo.Admin, &cur, time.Hour)))
	exactlyOnce(t, got2, late)
}

// TestNothingNewerThanLag checks no request reaches past now − lag and no
// record newer than it is delivered.
func TestNothingNewerThanLag(t *testing.T) {
	e := newEnv(t, nil, duotest.WithDelay(0)) // a fake that shows everything at once
	now := e.clock.Now()
	for _, lt := range logTypesUnderTest() {
		var recs []duotest.Record
		for i := range 200 {
			at := now.Add(-time.Duration(i) * 3 * time.Second)
			if lt.v1 && lt.typ == duo.Telephony {
				recs = append(recs, e.gen.TelephonyV1(at))
			} else {
				recs = append(recs, e.gen.Record(lt.typ, at))
			}
		}
		e.srv.Add(recs...)
		lag := 3 * time.Minute
		r := duolog.NewReader(e.client, lt.typ, nil, duolog.Options{Lag: lag, InitialLookback: time.Hour, Now: e.clock.Now, TelephonyV1: lt.v1 && lt.typ == duo.Telephony})
		got := records(drain(t, r))
		// Reads stay a second more behind than the lag once Duo's Date
		// (whole seconds) is known: a record in that second may come
		// now or with the next poll.
		var want []duotest.Record
		edge := map[string]bool{}
		for _, rec := range recs {
			switch {
			case !rec.Time.After(now.Add(-lag - time.Second)):
				want = append(want, rec)
			case !rec.Time.After(now.Add(-lag)):
				edge[string(rec.Raw)] = true
			}
		}
		var inner []string
		for _, g := range got {
			if !edge[g] {
				inner = append(inner, g)
			}
		}
		exactlyOnce(t, inner, want)
	}
	for _, req := range e.srv.Requests() {
		if mt := req.Query.Get("maxtime"); mt != "" {
			var ms int64
			fmt.Sscan(mt, &ms)
			if time.UnixMilli(ms).After(now.Add(-3 * time.Minute)) {
				t.Errorf("request %s asked for maxtime %s, past now - lag", req.Path, time.UnixMilli(ms).UTC())
			}
		}
	}
}

// TestLagNeverBelowDuoDelay checks a configured lag under 2 minutes is
// raised to Duo's delay.
func TestLagNeverBelowDuoDelay(t *testing.T) {
	e := newEnv(t, nil)
	r := duolog.NewReader(e.client, duo.Auth, nil, duolog.Options{Lag: time.Second, InitialLookback: time.Hour, Now: e.clock.Now})
	drain(t, r)
	for _, req := range e.srv.Requests() {
		var ms int64
		fmt.Sscan(req.Query.Get("maxtime"), &ms)
		if time.UnixMilli(ms).After(e.clock.Now().Add(-duolog.MinLag)) {
			t.Fatalf("maxtime %d is within Duo's 2-minute delay", ms)
		}
	}
}

// TestV2RequestShape checks the parameters Duo needs on every v2 request,
// the window fixed across the pages of one run, and next_offset sent back
// in the form each endpoint uses.
func TestV2RequestShape(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	e.srv.Add(e.gen.Spread(duo.Auth, now.Add(-2*time.Hour), now.Add(-time.Hour), 2500)...)
	e.srv.Add(e.gen.Spread(duo.Telephony, now.Add(-2*time.Hour), now.Add(-time.Hour), 2500)...)
	for _, typ := range []duo.LogType{duo.Auth, duo.Telephony} {
		e.srv.ResetRequests()
		got := records(drain(t, e.reader(typ, nil, 3*time.Hour)))
		if len(got) != 2500 {
			t.Fatalf("%s: %d records, want 2500", typ, len(got))
		}
		reqs := e.srv.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%s: %d requests for 2500 records, want 3", typ, len(reqs))
		}
		for i, req := range reqs {
			q := req.Query
			if q.Get("limit") != "1000" || q.Get("sort") != "ts:asc" {
				t.Errorf("%s request %d: limit=%q sort=%q", typ, i, q.Get("limit"), q.Get("sort"))
			}
			if q.Get("mintime") != reqs[0].Query.Get("mintime") || q.Get("maxtime") != reqs[0].Query.Get("maxtime") {
				t.Errorf("%s request %d: window changed within a run", typ, i)
			}
			if off := q.Get("next_offset"); (i == 0) != (off == "") || (off != "" && !strings.Contains(off, ",")) {
				t.Errorf("%s request %d: next_offset %q", typ, i, off)
			}
		}
	}
}

// TestHorizonClamp checks a cursor older than Duo keeps is moved to the
// horizon instead of provoking 400s, and that an explicit 400 for the
// horizon (here, a Duo clock two days ahead) names the cursor and the
// reset command.
func TestHorizonClamp(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	old := duolog.StartAt(now.Add(-400*24*time.Hour), false)
	recent := e.gen.Spread(duo.Auth, now.Add(-2*time.Hour), now.Add(-time.Hour), 10)
	e.srv.Add(recent...)
	got := records(drain(t, e.reader(duo.Auth, &old, 0)))
	exactlyOnce(t, got, recent)
	var ms int64
	fmt.Sscan(e.srv.Requests()[0].Query.Get("mintime"), &ms)
	if d := now.Sub(time.UnixMilli(ms)); d > duolog.Horizon {
		t.Fatalf("first request reached back %s, beyond the horizon", d)
	}

	ahead := &clock{t: now.Add(48 * time.Hour)}
	e2 := newEnv(t, nil, duotest.WithClock(ahead.Now))
	_, err := e2.reader(duo.Auth, &old, 0).Next(context.Background())
	if err == nil || !strings.Contains(err.Error(), "180-day horizon") || !strings.Contains(err.Error(), "checkpoint reset --logs auth") {
		t.Fatalf("horizon error: %v", err)
	}
}

// TestFastLocalClock: with the local clock 5 minutes ahead of Duo's, reads
// still stop lag before Duo's now (learned from its Date headers), so the
// records Duo has not yet shown are not skipped; once they are visible
// they arrive, once.
func TestFastLocalClock(t *testing.T) {
	for _, lt := range logTypesUnderTest() {
		t.Run(lt.name, func(t *testing.T) {
			duoClock := &clock{t: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}
			e := newEnv(t, nil, duotest.WithClock(duoClock.Now), duotest.WithDelay(0))
			e.clock.Advance(5 * time.Minute) // the local clock runs ahead
			gen := duotest.NewGenerator(3)
			var recs []duotest.Record
			for i := range 600 { // one record every second over Duo's last 10 minutes
				at := duoClock.Now().Add(-time.Duration(i) * time.Second)
				if lt.v1 && lt.typ == duo.Telephony {
					recs = append(recs, gen.TelephonyV1(at))
				} else {
					recs = append(recs, gen.Record(lt.typ, at))
				}
			}
			e.srv.Add(recs...)
			opts := duolog.Options{Lag: 2 * time.Minute, InitialLookback: time.Hour, Now: e.clock.Now, TelephonyV1: lt.v1 && lt.typ == duo.Telephony}
			r := duolog.NewReader(e.client, lt.typ, nil, opts)
			got := records(drain(t, r))
			limit := duoClock.Now().Add(-opts.Lag)
			// The first request, made before Duo's clock was known, may
			// overshoot; its answer is discarded and the window redone.
			for _, req := range e.srv.Requests()[1:] {
				if mt := req.Query.Get("maxtime"); mt != "" && req.Status == 200 {
					var ms int64
					fmt.Sscan(mt, &ms)
					if ms > limit.UnixMilli()+1000 {
						t.Fatalf("a request reached %s, past Duo's now - lag (%s)", time.UnixMilli(ms).UTC(), limit.UTC())
					}
				}
			}
			var early []duotest.Record
			for _, rec := range recs {
				if !rec.Time.After(limit.Add(-2 * time.Second)) {
					early = append(early, rec)
				}
			}
			if len(got) < len(early) || len(got) > len(early)+4 {
				t.Fatalf("delivered %d records, want the %d (±2 s) older than Duo's now - lag", len(got), len(early))
			}
			// Time passes everywhere: the rest arrive, exactly once.
			duoClock.Advance(10 * time.Minute)
			e.clock.Advance(10 * time.Minute)
			got = append(got, records(drain(t, r))...)
			exactlyOnce(t, got, recs)
		})
	}
}

// TestTelephonySwitchKeepsPosition: a telephony cursor saved by the v2
// reader, read by the v1 reader (or the other way round), keeps its
// position instead of restarting at the horizon.
func TestTelephonySwitchKeepsPosition(t *testing.T) {
	e := newEnv(t, nil)
	at := e.clock.Now().Add(-time.Hour)
	v2 := duolog.StartAt(at, false)
	r := duolog.NewReader(e.client, duo.Telephony, &v2, duolog.Options{TelephonyV1: true, Now: e.clock.Now})
	if got := r.Cursor().Time(); !got.Equal(at.Truncate(time.Second)) {
		t.Fatalf("v1 reader from a v2 cursor starts at %s, want %s", got, at)
	}
	v1 := duolog.StartAt(at, true)
	r = duolog.NewReader(e.client, duo.Telephony, &v1, duolog.Options{Now: e.clock.Now})
	if got := r.Cursor().Time(); !got.Equal(at.Truncate(time.Second)) {
		t.Fatalf("v2 reader from a v1 cursor starts at %s, want %s", got, at)
	}
}
