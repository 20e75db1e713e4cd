package duolog_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// TestClockSkewLosesNothing polls every few seconds for minutes while
// records arrive continuously at Duo's now, with the local clock a little
// ahead of Duo's from the start, or stepping ahead after start-up (an NTP
// step, a resumed VM). With the smallest lag allowed, no window may reach
// into what Duo has not shown yet: every record arrives, once.
func TestClockSkewLosesNothing(t *testing.T) {
	cases := []struct {
		name string
		// ahead is how far the local clock runs ahead of Duo's from the
		// start; step is added to it half-way.
		ahead, step time.Duration
	}{
		{"local 1.5s ahead", 1500 * time.Millisecond, 0},
		{"local 0.4s ahead", 400 * time.Millisecond, 0},
		{"local steps 30s ahead after start", 0, 30 * time.Second},
		{"local steps 1.7s ahead after start", 200 * time.Millisecond, 1700 * time.Millisecond},
	}
	for _, tc := range cases {
		for i, lt := range logTypesUnderTest() {
			t.Run(tc.name+"/"+lt.name, func(t *testing.T) {
				ahead := tc.ahead
				var duoNow func() time.Time
				e := newEnv(t, nil, duotest.WithClock(func() time.Time { return duoNow() }))
				duoNow = func() time.Time { return e.clock.Now().Add(-ahead) }
				gen := duotest.NewGenerator(uint64(i))
				rng := rand.New(rand.NewPCG(uint64(i), 9))
				one := func(at time.Time) duotest.Record {
					if lt.v1 && lt.typ == duo.Telephony {
						return gen.TelephonyV1(at)
					}
					return gen.Record(lt.typ, at)
				}
				opts := duolog.Options{Lag: duolog.MinLag, InitialLookback: 10 * time.Minute, Now: e.clock.Now, TelephonyV1: lt.v1 && lt.typ == duo.Telephony}
				r := duolog.NewReader(e.client, lt.typ, nil, opts)
				var src []duotest.Record
				var got []string
				const step = 3 * time.Second
				for poll := range 100 { // 5 minutes of polls every 3 s
					// Records that happened at Duo during the last step.
					from := duoNow()
					e.clock.Advance(step)
					for range 1 + rng.IntN(6) {
						rec := one(from.Add(time.Duration(rng.Int64N(int64(step)))))
						src = append(src, rec)
						e.srv.Add(rec)
					}
					got = append(got, records(drain(t, r))...)
					if poll == 50 { // with records in Duo's last minutes
						ahead += tc.step
					}
				}
				e.clock.Advance(10 * time.Minute)
				got = append(got, records(drain(t, r))...)
				exactlyOnce(t, got, src)
			})
		}
	}
}

// TestEmptyPageWithOffset: Duo may answer a v2 page with no records but a
// next_offset that moved; the window goes on (its records are not skipped).
func TestEmptyPageWithOffset(t *testing.T) {
	for _, typ := range []duo.LogType{duo.Auth, duo.Telephony} {
		t.Run(string(typ), func(t *testing.T) {
			e := newEnv(t, nil)
			now := e.clock.Now()
			recs := e.gen.Spread(typ, now.Add(-2*time.Hour), now.Add(-time.Hour), 2500)
			e.srv.Add(recs...)
			// The first page of the window, and one in its middle.
			e.srv.Inject(duotest.Fault{EmptyWithOffset: true}, duotest.Fault{Count: 1}, duotest.Fault{EmptyWithOffset: true})
			got := records(drain(t, e.reader(typ, nil, 3*time.Hour)))
			exactlyOnce(t, got, recs)
			if n := e.srv.PendingFaults(); n != 0 {
				t.Fatalf("%d faults unused", n)
			}
		})
	}
}

// TestV1MintimeEitherReading: Duo's texts disagree on whether a v1 mintime
// is inclusive or exclusive. Records that arrive late in the second a
// cursor stands on are delivered under both readings, and none twice.
func TestV1MintimeEitherReading(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []duotest.Option
	}{{"inclusive", nil}, {"exclusive", []duotest.Option{duotest.WithV1MintimeExclusive()}}} {
		for _, typ := range []duo.LogType{duo.Admin, duo.Offline} {
			t.Run(mode.name+"/"+string(typ), func(t *testing.T) {
				e := newEnv(t, nil, mode.opts...)
				now := e.clock.Now()
				sec := now.Add(-time.Hour).Truncate(time.Second)
				var src []duotest.Record
				src = append(src, e.gen.Spread(typ, sec.Add(-time.Hour), sec, 1500)...)
				src = append(src, e.gen.Burst(typ, sec.Add(-time.Second), 1200)...) // a full page just before the boundary
				src = append(src, e.gen.Burst(typ, sec, 20)...)
				e.srv.Add(src...)
				r := e.reader(typ, nil, 3*time.Hour)
				got := records(drain(t, r))
				exactlyOnce(t, got, src)
				if c := r.Cursor(); c.MinTime != sec.Unix() {
					t.Fatalf("cursor at %d, want the boundary second %d", c.MinTime, sec.Unix())
				}
				late := e.gen.Burst(typ, sec, 7)
				more := e.gen.Spread(typ, sec.Add(time.Second), sec.Add(time.Minute), 30)
				e.srv.Add(append(late, more...)...)
				got = append(got, records(drain(t, r))...)
				exactlyOnce(t, got, append(src, append(late, more...)...))
			})
		}
	}
}

// TestTelephonySwitchRepeatsNothing: switching telephony from the v1 to
// the v2 endpoint reads nothing again (the records would come back under
// other event ids: hashes on v1, telephony_id on v2); switching back
// repeats at most the records of the second the v2 cursor stands in.
func TestTelephonySwitchRepeatsNothing(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	sec := now.Add(-time.Hour).Truncate(time.Second)
	// Duo serves the same calls on both endpoints; the fake keeps them
	// apart, so add each call to both, as a v1 and as a v2 record.
	gen := duotest.NewGenerator(5)
	var v1recs, v2recs []duotest.Record
	for i := range 40 {
		at := sec.Add(-20 * time.Second).Add(time.Duration(i) * 500 * time.Millisecond)
		v1recs = append(v1recs, gen.TelephonyV1(at))
		v2recs = append(v2recs, gen.Record(duo.Telephony, at))
	}
	e.srv.Add(v1recs...)
	e.srv.Add(v2recs...)
	v1opts := duolog.Options{Lag: 5 * time.Minute, InitialLookback: 2 * time.Hour, Now: e.clock.Now, TelephonyV1: true}
	v2opts := v1opts
	v2opts.TelephonyV1 = false

	r1 := duolog.NewReader(e.client, duo.Telephony, nil, v1opts)
	if got := records(drain(t, r1)); len(got) != len(v1recs) {
		t.Fatalf("v1 read %d records, want %d", len(got), len(v1recs))
	}
	cur := r1.Cursor()
	if again := records(drain(t, duolog.NewReader(e.client, duo.Telephony, &cur, v2opts))); len(again) != 0 {
		t.Fatalf("after switching to v2, %d records were read again", len(again))
	}

	// v2 → v1: the v2 cursor stands mid-second; the v1 reader repeats at
	// most that second's records.
	mid := duolog.Cursor{MinTimeMs: sec.Add(-10*time.Second).UnixMilli() + 700}
	r2 := duolog.NewReader(e.client, duo.Telephony, &mid, v1opts)
	again := records(drain(t, r2))
	want := 0
	for _, rec := range v1recs {
		if !rec.Time.Before(time.UnixMilli(mid.MinTimeMs).Truncate(time.Second)) {
			want++
		}
	}
	if len(again) != want {
		t.Fatalf("after switching to v1 at %s, %d records read, want %d (the rest from that second on)", time.UnixMilli(mid.MinTimeMs).UTC(), len(again), want)
	}
}

// TestQuietLogCheckedThrough: on a log with no new records, the cursor of
// a v1 log stays at its newest record, but how far Duo has been checked
// keeps up with the clock (it is what lag is measured from).
func TestQuietLogCheckedThrough(t *testing.T) {
	for _, lt := range logTypesUnderTest() {
		t.Run(lt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			one := e.gen.Record(lt.typ, e.clock.Now().Add(-time.Hour))
			if lt.v1 && lt.typ == duo.Telephony {
				one = e.gen.TelephonyV1(e.clock.Now().Add(-time.Hour))
			}
			e.srv.Add(one)
			opts := duolog.Options{Lag: duolog.MinLag, InitialLookback: 2 * time.Hour, Now: e.clock.Now, TelephonyV1: lt.v1 && lt.typ == duo.Telephony}
			r := duolog.NewReader(e.client, lt.typ, nil, opts)
			for range 3 {
				e.clock.Advance(time.Hour) // quiet hours
				steps := drain(t, r)
				var through time.Time
				for _, s := range steps {
					through = s.through
				}
				if lag := e.clock.Now().Sub(through); lag > duolog.MinLag+5*time.Second {
					t.Fatalf("checked through %s, %s behind now on a quiet log", through.UTC(), lag)
				}
			}
		})
	}
}

// TestTrustMonitorRequestShape: Trust Monitor pages are at most 200
// events, unsorted requests, and the cursor goes back as offset, not
// next_offset; activity pages ask for 1000, oldest first, with
// next_offset.
func TestTrustMonitorRequestShape(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	e.srv.Add(e.gen.Spread(duo.TrustMonitor, now.Add(-2*time.Hour), now.Add(-time.Hour), 450)...)
	e.srv.Add(e.gen.Spread(duo.Activity, now.Add(-2*time.Hour), now.Add(-time.Hour), 1500)...)
	for _, tc := range []struct {
		typ           duo.LogType
		n, pages      int
		limit, cursor string
		sorted        bool
	}{
		{duo.TrustMonitor, 450, 3, "200", "offset", false},
		{duo.Activity, 1500, 2, "1000", "next_offset", true},
	} {
		e.srv.ResetRequests()
		got := records(drain(t, e.reader(tc.typ, nil, 3*time.Hour)))
		if len(got) != tc.n {
			t.Fatalf("%s: %d records, want %d", tc.typ, len(got), tc.n)
		}
		reqs := e.srv.Requests()
		if len(reqs) != tc.pages {
			t.Fatalf("%s: %d requests, want %d", tc.typ, len(reqs), tc.pages)
		}
		for i, req := range reqs {
			q := req.Query
			if q.Get("limit") != tc.limit || (q.Get("sort") == "ts:asc") != tc.sorted {
				t.Errorf("%s request %d: limit=%q sort=%q", tc.typ, i, q.Get("limit"), q.Get("sort"))
			}
			if (i > 0) != (q.Get(tc.cursor) != "") {
				t.Errorf("%s request %d: %s=%q", tc.typ, i, tc.cursor, q.Get(tc.cursor))
			}
		}
	}
}
