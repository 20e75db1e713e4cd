package duolog_test

import (
	"context"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// TestV1ResumesAfterYield: a v1 read that needs a second request (the
// second before the cursor crowds a full page) goes on from that request
// when the budget made it give up, instead of starting over from the first
// one forever (issue 19, item 1).
func TestV1ResumesAfterYield(t *testing.T) {
	for _, typ := range []duo.LogType{duo.Admin, duo.Offline} {
		t.Run(string(typ), func(t *testing.T) {
			// One request at a time: each call gets one, then yields.
			e := newEnv(t, func(c *duo.Config) { c.RequestsPerSecond = 40 })
			now := e.clock.Now()
			sec := now.Add(-time.Hour).Truncate(time.Second)
			var src []duotest.Record
			src = append(src, e.gen.Spread(typ, sec.Add(-time.Hour), sec.Add(-time.Second), 300)...)
			src = append(src, e.gen.Burst(typ, sec.Add(-time.Second), 2500)...)
			src = append(src, e.gen.Burst(typ, sec, 20)...)
			src = append(src, e.gen.Spread(typ, sec.Add(time.Second), sec.Add(time.Minute), 40)...)
			e.srv.Add(src...)
			r := e.reader(typ, nil, 3*time.Hour)
			exactlyOnce(t, records(drainContext(t, r, context.Background(), 200)), src)
		})
	}
}

// TestV2ResumesWindowAfterYield: a new window whose end Duo's Date pulled
// back is asked again; when that second request yields, the next call
// goes on with the window already held to Duo's clock.
func TestV2ResumesWindowAfterYield(t *testing.T) {
	// The local clock stepped 10 minutes ahead of Duo's after the skew was
	// last measured: every new window must be cut by the answer's Date.
	var duoNow func() time.Time
	e := newEnv(t, func(c *duo.Config) { c.RequestsPerSecond = 40 }, duotest.WithClock(func() time.Time { return duoNow() }))
	duoNow = func() time.Time { return e.clock.Now().Add(-10 * time.Minute) }
	now := e.clock.Now()
	src := e.gen.Spread(duo.Auth, now.Add(-2*time.Hour), now.Add(-10*time.Minute), 1500)
	e.srv.Add(src...)
	r := duolog.NewReader(e.client, duo.Auth, nil, duolog.Options{Lag: duolog.MinLag, InitialLookback: 3 * time.Hour, Now: e.clock.Now})
	got := records(drainContext(t, r, context.Background(), 100))
	e.clock.Advance(15 * time.Minute) // the last records, young for Duo
	got = append(got, records(drainContext(t, r, context.Background(), 100))...)
	exactlyOnce(t, got, src)
}

// TestV1TrimmedPages: Duo's v1 pages hold "more or fewer" than 1,000
// records so as not to split a second. Pages that end short of the next
// second are no sign of the log's end: every record arrives once, and the
// log counts as checked only as far as it was read (issue 19, item 2).
func TestV1TrimmedPages(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []duotest.Option
	}{
		{"inclusive", []duotest.Option{duotest.WithV1TrimmedPages()}},
		{"exclusive", []duotest.Option{duotest.WithV1TrimmedPages(), duotest.WithV1MintimeExclusive()}},
	} {
		for _, typ := range []duo.LogType{duo.Admin, duo.Offline} {
			t.Run(mode.name+"/"+string(typ), func(t *testing.T) {
				e := newEnv(t, nil, mode.opts...)
				now := e.clock.Now()
				sec := now.Add(-time.Hour).Truncate(time.Second)
				var src []duotest.Record
				src = append(src, e.gen.Spread(typ, sec.Add(-2*time.Hour), sec.Add(-time.Hour), 500)...)
				// Seconds of 600: no two fit in a page, so each page is one
				// second, well short of 1,000.
				for i := range 4 {
					src = append(src, e.gen.Burst(typ, sec.Add(time.Duration(i-10)*time.Second), 600)...)
				}
				src = append(src, e.gen.Burst(typ, sec.Add(-time.Second), 700)...)
				src = append(src, e.gen.Burst(typ, sec, 400)...)
				src = append(src, e.gen.Burst(typ, sec.Add(time.Second), 800)...)
				src = append(src, e.gen.Spread(typ, sec.Add(2*time.Second), sec.Add(time.Minute), 30)...)
				e.srv.Add(src...)

				r := e.reader(typ, nil, 4*time.Hour)
				steps := drain(t, r)
				exactlyOnce(t, records(steps), src)
				// No page claims the log checked past a record not yet
				// delivered.
				delivered := map[string]bool{}
				for _, s := range steps {
					for _, rec := range s.records {
						delivered[rec] = true
					}
					for _, rec := range src {
						if !delivered[string(rec.Raw)] && s.through.Unix() > rec.Time.Unix() {
							t.Fatalf("a page claims the log checked through %s with a record of %s unread", s.through.UTC(), rec.Time.UTC())
						}
					}
				}

				// The same reading as a backfill, ending within the busy
				// seconds: ends with every record of its range.
				until := sec.Add(time.Second)
				b := duolog.NewReader(e.client, typ, nil, duolog.Options{Lag: 5 * time.Minute, InitialLookback: 4 * time.Hour, Until: until, Now: e.clock.Now})
				var inRange []duotest.Record
				for _, rec := range src {
					if rec.Time.Unix() <= until.Unix() {
						inRange = append(inRange, rec)
					}
				}
				exactlyOnce(t, records(drain(t, b)), inRange)
			})
		}
	}
}

// TestSameNextOffsetSkipsNothing: Duo answering a window's page with the
// next_offset it was sent gives the read up for a while, and it asks again:
// the rest of the window is not skipped (issue 19, item 11: it moved the
// cursor past the window with a warning).
func TestSameNextOffsetSkipsNothing(t *testing.T) {
	for _, typ := range []duo.LogType{duo.Auth, duo.Telephony, duo.Activity} {
		t.Run(string(typ), func(t *testing.T) {
			e := newEnv(t, nil)
			now := e.clock.Now()
			src := e.gen.Spread(typ, now.Add(-2*time.Hour), now.Add(-time.Hour), 2500)
			e.srv.Add(src...)
			r := duolog.NewReader(e.client, typ, nil, duolog.Options{Lag: 5 * time.Minute, InitialLookback: 3 * time.Hour, Now: e.clock.Now, AgainAfter: time.Millisecond})
			// One page, then Duo sticks to its offset for two answers.
			p, err := r.Next(context.Background())
			if err != nil || !p.More {
				t.Fatalf("first page: %v, more %v", err, p.More)
			}
			r.Advance(p.Cursor)
			got := records([]step{{records: rawStrings(p)}})
			e.srv.Inject(duotest.Fault{StuckOffset: true, Count: 2})
			got = append(got, records(drainContext(t, r, context.Background(), 100))...)
			exactlyOnce(t, got, src)
		})
	}
}

func rawStrings(p duolog.Page) []string {
	var out []string
	for _, rec := range p.Records {
		out = append(out, string(rec))
	}
	return out
}
