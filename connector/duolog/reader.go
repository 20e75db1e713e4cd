// Package duolog reads the Duo Admin API logs page by page from a resumable
// cursor: none skipped, whatever order or burst Duo sends them in, and none
// read twice by one reader.
//
// A Reader yields pages of raw records (the bytes Duo sent) together with
// the cursor to save once the page is safely delivered. Saving that cursor
// and resuming from it later continues exactly after the page; a page
// whose cursor was not saved (a crash) is read again, so the pipeline's
// delivery is at least once.
package duolog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// MinLag is Duo's availability delay: records younger than this may still
// appear, so nothing newer is ever requested or accepted.
const MinLag = 2 * time.Minute

// Retention is how long Duo keeps a log: a mintime older than this is
// refused.
const Retention = 180 * 24 * time.Hour

// Horizon is how far back a request may reach: Retention less a day of
// margin for clock skew and the time a long catch-up takes.
const Horizon = Retention - 24*time.Hour

// DefaultLag is the lag a reader keeps by default: Duo's 2-minute delay
// plus 30 s of margin for what the connector cannot measure (a clock
// stepped since its last request, Duo's own ingestion running late). Half
// a minute of extra delay costs a log pipeline nothing; a missed record
// is gone for good.
const DefaultLag = MinLag + 30*time.Second

// PageSize is the number of records requested per v2 page (Duo's maximum)
// and the size of a full v1 page.
const PageSize = 1000

// Options configure a Reader.
type Options struct {
	// Lag is how far behind now reading stops (minimum MinLag; zero means
	// MinLag: the configuration sets DefaultLag).
	Lag time.Duration
	// InitialLookback is where a reader without a cursor starts, back from
	// now (default 24h, at most Horizon).
	InitialLookback time.Duration
	// Start, when set, is where a reader without a cursor starts, instead
	// of InitialLookback ago (backfills: their exact start).
	Start time.Time
	// Until, when set, ends reading at this time (backfills).
	Until time.Time
	// TelephonyV1 reads telephony from the legacy v1 endpoint.
	TelephonyV1 bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives clamping and recovery notices (default: discard).
	Logger *slog.Logger
	// ResetCommand is the command that resets this reader's cursor, for
	// error hints (default: the daemon's cursor of the log).
	ResetCommand string
	// AgainAfter is how long to wait before asking again when Duo's
	// answer did not let the read go on (default 15s).
	AgainAfter time.Duration
}

func (o *Options) setDefaults() {
	if o.Lag < MinLag {
		o.Lag = MinLag
	}
	if o.InitialLookback <= 0 {
		o.InitialLookback = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AgainAfter <= 0 {
		o.AgainAfter = 15 * time.Second
	}
}

// Page is one batch of records and the cursor that follows them.
type Page struct {
	// Records are the new records, as Duo sent them, oldest first where
	// the log gives an order.
	Records []json.RawMessage
	// Hashes, for v1 logs, holds each record's RecordHash (the reader
	// computes it anyway), in the order of Records; nil for v2 logs.
	Hashes []string
	// Cursor is where to resume once Records are delivered.
	Cursor Cursor
	// More reports that more records are available now: call Next again
	// without waiting for the next poll.
	More bool
	// Through is how far Duo has been checked once the page is delivered:
	// every record up to it has been read. On a quiet log it keeps up with
	// the clock while Cursor (the newest record, for v1 logs) stays.
	Through time.Time

	held []*duo.Response
}

// Release gives the buffers the records point into back for the next
// page: the records must not be used after. Not calling it is no leak.
func (p *Page) Release() {
	for _, r := range p.held {
		r.Release()
	}
	p.held = nil
}

// Reader reads one log of one Duo account.
type Reader struct {
	client *duo.Client
	typ    duo.LogType
	path   string
	v1     bool
	opts   Options
	cur    Cursor
	canon  canonicalizer
	ep     endpoint // for windowed (v2) logs
	// held are the responses the page being read points into.
	held []*duo.Response

	// What a read learned before it was given up between two requests
	// (the budget spent, a transient error), kept so that the next call
	// goes on from there: a read that started over each time would never
	// get further than its first request under a tight budget.
	v1ask  v1Ask       // v1: the second to ask next for the cursor
	window *nextWindow // v2: the window begun from the cursor
	// inclusive: Duo answered a v1 mintime with records of that second.
	inclusive bool
	// answers counts Duo's successful answers, for stall detection: a
	// reader that gets answers and never moves is stuck.
	answers int
}

// nextWindow is the window a v2 read chose for a cursor with none.
type nextWindow struct {
	cur Cursor
	// checked: its end was held to Duo's clock (an answer's Date).
	checked bool
}

// NewReader returns a Reader of log t resuming at cur, or starting
// opts.InitialLookback ago when cur is nil.
func NewReader(client *duo.Client, t duo.LogType, cur *Cursor, opts Options) *Reader {
	opts.setDefaults()
	r := &Reader{client: client, typ: t, opts: opts, v1: IsV1(t, opts.TelephonyV1)}
	r.path = t.Path(opts.TelephonyV1)
	r.ep = windowed[r.path]
	if cur != nil {
		r.cur = cur.clone()
		// A cursor saved by the other kind of reader (telephony switched
		// between v1 and v2): carry its position over rather than start
		// again from the horizon.
		// The event ids differ between the endpoints (hashes on v1,
		// telephony_id on v2), so nothing must be read twice:
		switch {
		case r.v1 && r.cur.MinTime == 0 && r.cur.MinTimeMs != 0:
			// v2 → v1: v1 asks whole seconds, so the records of the
			// cursor's second before it come again (at most one second).
			r.cur = Cursor{MinTime: cur.Time().Unix()}
		case !r.v1 && r.cur.MinTimeMs == 0 && r.cur.MinTime != 0:
			// v1 → v2: a v1 cursor with delivered records stands on a
			// second that was complete when it was read (older than the
			// lag): start after it.
			start := cur.MinTime
			if len(cur.Seen) > 0 {
				start++
			}
			r.cur = Cursor{MinTimeMs: start * 1000}
		}
	} else {
		now := opts.Now()
		start := now.Add(-min(opts.InitialLookback, Horizon))
		if !opts.Start.IsZero() {
			start = opts.Start
			if h := now.Add(-Horizon); start.Before(h) {
				start = h
			}
		}
		r.cur = StartAt(start, r.v1)
	}
	return r
}

// CheckLog makes the cheapest request of log t's endpoint, to tell whether
// this account and application may read it: a one-minute window of one
// record (v2), or the records of the last few minutes (v1). It is tried
// once, and fails as duo.Client.Check does.
func CheckLog(ctx context.Context, client *duo.Client, t duo.LogType, telephonyV1 bool) error {
	r := NewReader(client, t, nil, Options{TelephonyV1: telephonyV1})
	end := time.Now().Add(-5 * time.Minute)
	params := url.Values{"mintime": {strconv.FormatInt(end.Unix(), 10)}}
	if !r.v1 {
		params = url.Values{
			"mintime": {strconv.FormatInt(end.Add(-time.Minute).UnixMilli(), 10)},
			"maxtime": {strconv.FormatInt(end.UnixMilli(), 10)},
			"limit":   {"1"},
		}
	}
	return client.CheckPath(ctx, r.path, params)
}

// IsV1 reports whether log t is read from a v1 endpoint, whose cursors
// count seconds (see Cursor).
func IsV1(t duo.LogType, telephonyV1 bool) bool {
	return t == duo.Admin || t == duo.Offline || (t == duo.Telephony && telephonyV1)
}

// StartAt returns the cursor of a reader that starts reading at t.
func StartAt(t time.Time, v1 bool) Cursor {
	if v1 {
		return Cursor{MinTime: t.Unix()}
	}
	return Cursor{MinTimeMs: t.UnixMilli()}
}

// Cursor returns the reader's current position.
func (r *Reader) Cursor() Cursor { return r.cur.clone() }

// Answers returns how many successful answers the reader has had from Duo.
func (r *Reader) Answers() int { return r.answers }

// V1 reports whether the reader reads a v1 endpoint (second cursors).
func (r *Reader) V1() bool { return r.v1 }

// Next reads the page that follows the reader's position. It does not move
// the position: once the page is delivered, Advance to its cursor. Until
// then, Next reads the same page again (which is what a failed delivery
// needs).
func (r *Reader) Next(ctx context.Context) (Page, error) {
	var p Page
	var err error
	if r.v1 {
		p, err = r.nextV1(ctx)
	} else {
		p, err = r.nextV2(ctx)
	}
	p.held, r.held = r.held, nil
	if err != nil || len(p.Records) == 0 {
		p.Release()
	}
	if err != nil {
		var apiErr *duo.APIError
		if errors.As(err, &apiErr) && apiErr.HorizonExceeded() {
			reset := r.opts.ResetCommand
			if reset == "" {
				reset = fmt.Sprintf("duo-connector checkpoint reset --logs %s --yes --config <file>", r.typ)
			}
			return Page{}, fmt.Errorf("read %s logs: cursor at %s is past Duo's 180-day horizon (reset it with '%s'): %w",
				r.typ, r.cur.Time().UTC().Format(time.RFC3339), reset, err)
		}
		return Page{}, fmt.Errorf("read %s logs: %w", r.typ, err)
	}
	if c := p.Cursor.Time(); p.Through.Before(c) {
		p.Through = c
	}
	return p, nil
}

// Advance moves the reader to c, the cursor of a delivered page.
func (r *Reader) Advance(c Cursor) {
	r.cur = c.clone()
	r.window = nil
}

// nextV2 pages through one window [mintime, maxtime], fixed for the whole
// run, following Duo's next_offset; when the window is exhausted the next
// window starts at maxtime+1 ms.
func (r *Reader) nextV2(ctx context.Context) (Page, error) {
	cur := r.cur.clone()
	now := r.duoNow()
	horizon := now.Add(-Horizon).UnixMilli()
	if cur.MinTimeMs < horizon {
		r.opts.Logger.Warn("cursor is older than Duo's horizon; skipping ahead",
			"cursor", time.UnixMilli(cur.MinTimeMs).UTC(), "resume", time.UnixMilli(horizon).UTC())
		cur.MinTimeMs = horizon
		if cur.MaxTimeMs != 0 && cur.MaxTimeMs <= horizon {
			cur.MaxTimeMs, cur.NextOffset = 0, ""
		}
	}
	fresh := cur.MaxTimeMs == 0
	checked := !fresh
	if fresh {
		if w := r.window; w != nil && w.cur.MinTimeMs == cur.MinTimeMs {
			cur, checked = w.cur, w.checked // begun by a call given up
		} else {
			maxMs := r.windowEnd(now.Add(-r.opts.Lag))
			if maxMs <= cur.MinTimeMs {
				return Page{Cursor: cur}, nil
			}
			cur.MaxTimeMs, cur.NextOffset = maxMs, ""
			r.window = &nextWindow{cur: cur}
		}
	}
	resp, err := r.getV2(ctx, cur)
	if err != nil {
		return Page{}, err
	}
	if !checked {
		// Every new window is checked against the Date of its own answer,
		// so a clock that stepped since the skew was last measured (NTP,
		// a resumed VM) cannot make it reach into Duo's last two minutes.
		// The Date is whole seconds, rounded down: a safe bound.
		if limit, ok := r.duoLimit(resp); ok && cur.MaxTimeMs > limit.UnixMilli() {
			maxMs := min(r.windowEnd(r.duoNow().Add(-r.opts.Lag)), limit.UnixMilli())
			r.opts.Logger.Debug("window reached past Duo's now - 2m; asking again",
				"maxtime", time.UnixMilli(cur.MaxTimeMs).UTC(), "duo_date", resp.ServerDate.UTC())
			if maxMs <= cur.MinTimeMs {
				r.window = nil
				return Page{Cursor: r.cur.clone()}, nil
			}
			cur.MaxTimeMs = maxMs
			r.window = &nextWindow{cur: cur, checked: true}
			if resp, err = r.getV2(ctx, cur); err != nil {
				return Page{}, err
			}
		}
	}
	recs, next, err := decodeV2Page(resp.Body, r.ep.records)
	if err != nil {
		return Page{}, fmt.Errorf("decode %s page: %w", r.path, err)
	}
	switch {
	case next == "":
	case next == cur.NextOffset:
		// Following an offset that does not move would loop, and ending
		// the window would skip what Duo has left in it: stay, and ask
		// again at the next poll. If Duo keeps answering so, the log
		// makes no progress and is reported stalled.
		r.opts.Logger.Warn("Duo returned the same next_offset again; asking again later (the window's rest is not skipped)",
			"next_offset", next, "records", len(recs), "retry_in", r.opts.AgainAfter)
		return Page{}, &duo.RetryLaterError{Wait: r.opts.AgainAfter, Err: fmt.Errorf("the same next_offset %q again from Duo", next)}
	case len(recs) == 0:
		// An empty page whose offset moved: Duo still has more of the
		// window to page through (an empty page is not its end).
		r.opts.Logger.Debug("empty page with a new next_offset; following it", "next_offset", next)
	}
	if next != "" {
		cur.NextOffset = next
		return Page{Records: recs, Cursor: cur, More: true}, nil
	}
	done := Cursor{MinTimeMs: cur.MaxTimeMs + 1}
	return Page{Records: recs, Cursor: done}, nil
}

// windowEnd is the maxtime (ms) of a window that would end at t, cut at
// the reader's Until.
func (r *Reader) windowEnd(t time.Time) int64 {
	maxMs := t.UnixMilli()
	if !r.opts.Until.IsZero() {
		maxMs = min(maxMs, r.opts.Until.UnixMilli())
	}
	return maxMs
}

// endpoint is how the windowed endpoints differ: data, not code.
type endpoint struct {
	// records is the member of the response holding the records.
	records string
	// offsetParam is the parameter the paging cursor is sent back in.
	offsetParam string
	// limit is the largest page the endpoint serves.
	limit int
	// sorted: the endpoint takes sort=ts:asc (the others answer oldest
	// first by themselves).
	sorted bool
}

// windowed holds the windowed endpoints: a window [mintime, maxtime] in
// ms, paged with an opaque cursor from metadata.next_offset.
var windowed = map[string]endpoint{
	duo.PathAuthV2:       {records: "authlogs", offsetParam: "next_offset", limit: PageSize, sorted: true},
	duo.PathTelephonyV2:  {records: "items", offsetParam: "next_offset", limit: PageSize, sorted: true},
	duo.PathActivity:     {records: "items", offsetParam: "next_offset", limit: PageSize, sorted: true},
	duo.PathTrustMonitor: {records: "events", offsetParam: "offset", limit: 200},
}

// getV2 requests the page of window cur at its offset.
func (r *Reader) getV2(ctx context.Context, cur Cursor) (*duo.Response, error) {
	params := map[string][]string{
		"mintime": {fmt.Sprint(cur.MinTimeMs)},
		"maxtime": {fmt.Sprint(cur.MaxTimeMs)},
		"limit":   {fmt.Sprint(r.ep.limit)},
	}
	if r.ep.sorted {
		params["sort"] = []string{"ts:asc"}
	}
	if cur.NextOffset != "" {
		params[r.ep.offsetParam] = []string{cur.NextOffset}
	}
	resp, err := r.client.Get(ctx, r.path, params)
	if err == nil {
		r.held = append(r.held, resp)
		r.answers++
	}
	return resp, err
}

// duoLimit is the newest time Duo had surely made readable when it sent
// resp: its Date header (whole seconds, so at most its true clock) minus
// its 2-minute availability delay. ok is false when there is no Date.
func (r *Reader) duoLimit(resp *duo.Response) (time.Time, bool) {
	if resp.ServerDate.IsZero() {
		return time.Time{}, false
	}
	return resp.ServerDate.Add(-MinLag), true
}

// duoNow is the clock reads are kept behind: the local clock, held back by
// the skew to Duo's measured from its Date headers. A Date has whole
// seconds, so the measured skew is held back by one second more: a local
// clock a fraction of a second (or 1.5 s) ahead of Duo's must not eat into
// Duo's 2-minute delay either.
func (r *Reader) duoNow() time.Time {
	now := r.opts.Now()
	if skew, ok := r.client.Skew(); ok {
		if hold := skew + time.Second; hold > 0 {
			now = now.Add(-hold)
		}
	}
	return now
}

// decodeV2Page splits a windowed endpoint's response member into the
// records under recsKey (authlogs, items, events), as slices of body, and
// the metadata.next_offset to send back ("" at the end).
func decodeV2Page(body []byte, recsKey string) ([]json.RawMessage, string, error) {
	var s jsonscan.Scanner
	s.Reset(body)
	if s.Peek() != '{' {
		return nil, "", errors.New("response is not a JSON object")
	}
	var recs []json.RawMessage
	var nextOffset jsonscan.Value
	err := s.Members(func(key []byte, esc bool) error {
		switch k := string(jsonscan.Key(key, esc)); {
		case k == recsKey && s.Peek() == '[':
			recs = make([]json.RawMessage, 0, PageSize)
			return s.Elements(func() error {
				// Found by its brackets and quotes, not checked: the
				// normalizer checks every record, and publishes one that
				// is not JSON with error.message, where a check here
				// would fail the whole page, and the log, for good.
				raw, err := s.Skip()
				recs = append(recs, json.RawMessage(raw))
				return err
			})
		case k == "metadata" && s.Peek() == '{':
			return s.Members(func(key []byte, esc bool) error {
				if string(jsonscan.Key(key, esc)) == "next_offset" {
					return s.Into(&nextOffset)
				}
				return s.Into(nil)
			})
		}
		return s.Into(nil)
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return nil, "", err
	}
	next, err := decodeNextOffset(nextOffset.Raw)
	return recs, next, err
}

// decodeNextOffset accepts the shapes Duo uses: ["ms","id"] (auth),
// "ms,id" (telephony v2), a number (Trust Monitor's may be a position),
// and null. It returns the value to send back.
func decodeNextOffset(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
			return "", fmt.Errorf("next_offset %s is not a whole number", raw)
		}
		return string(n), nil
	}
	var parts []string
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("next_offset %s is neither a string nor a list of strings", raw)
	}
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ","
		}
		out += p
	}
	return out, nil
}
