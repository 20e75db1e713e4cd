package duolog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// nextV1 reads the v1 logs (admin, offline enrollment, telephony v1). They
// take only a mintime in seconds and return the earliest ~1000 records, in
// no guaranteed order, without splitting a second: "more or fewer", so a
// page shorter than 1,000 is no sign that the log is caught up. The cursor
// is the last delivered second plus the hashes of the records delivered at
// that second: the next request asks for that second again, and records
// already delivered there are dropped. Records that arrive late within the
// boundary second are therefore still delivered, and none twice.
//
// Duo's texts disagree on whether mintime is inclusive ("at or after") or
// exclusive ("after"). The first request asks from one second before the
// cursor, so that the cursor's second is in the answer under either
// reading; what comes from before it is dropped.
//
// The log is caught up only when an answer proves it: it is empty, or it
// reaches past the cutoff (whole seconds, earliest first: everything before
// is in it). An answer of only delivered records proves nothing, since Duo
// may have stopped short of a second that would not fit: the next request
// asks from past the newest second it holds, at most up to the second after
// the cursor's. The second asked is kept across calls, so that a call given
// up between requests (the account's budget spent, a transient error)
// resumes there instead of starting over.
func (r *Reader) nextV1(ctx context.Context) (Page, error) {
	cur := r.cur.clone()
	now := r.duoNow()
	if horizon := now.Add(-Horizon).Unix() + 1; cur.MinTime < horizon {
		r.opts.Logger.Warn("cursor is older than Duo's horizon; skipping ahead",
			"cursor", time.Unix(cur.MinTime, 0).UTC(), "resume", time.Unix(horizon, 0).UTC())
		cur.MinTime, cur.Seen = horizon, nil
	}
	cutoff := now.Add(-r.opts.Lag).Unix()
	if !r.opts.Until.IsZero() {
		cutoff = min(cutoff, r.opts.Until.Unix())
	}
	if cur.MinTime > cutoff {
		return Page{Cursor: cur}, nil
	}
	ask := cur.MinTime - 1
	if r.v1ask.cursor.MinTime == cur.MinTime && slices.Equal(r.v1ask.cursor.Seen, cur.Seen) {
		ask = r.v1ask.ask
	} else if r.inclusive {
		ask = cur.MinTime
	}
	for {
		r.v1ask = v1Ask{cursor: cur, ask: ask}
		raws, resp, err := r.getV1(ctx, ask)
		if err != nil {
			return Page{}, err
		}
		// The answer tells Duo's clock: cut by it (a clock may have
		// stepped since the skew was last measured).
		cutoff = min(cutoff, r.duoNow().Add(-r.opts.Lag).Unix())
		if limit, ok := r.duoLimit(resp); ok {
			cutoff = min(cutoff, limit.Unix())
		}
		got := r.acceptV1(raws, cur, cutoff)
		if got.first == ask && len(raws) > 0 {
			r.inclusive = true
		}
		if len(got.recs) > 0 || len(raws) == 0 || got.pending {
			// The read is over: the next one starts from its cursor
			// (records may still come late in its second).
			r.v1ask = v1Ask{}
		}
		if len(got.recs) > 0 {
			return r.v1Page(cur, got, cutoff), nil
		}
		if len(raws) == 0 || got.pending {
			// Everything up to the cutoff is in this answer: caught up.
			return Page{Cursor: cur, Through: time.Unix(cutoff, 0)}, nil
		}
		// Only records delivered already (or from before the cursor):
		// ask again from past the newest second of the answer.
		next := min(max(got.last, ask+1), cur.MinTime+1)
		if next <= ask {
			// Asked from past the cursor's second, Duo answered with
			// records from before it: no read can go on. Nothing moves,
			// and if it lasts the log is reported stalled.
			r.v1ask = v1Ask{}
			r.opts.Logger.Warn("Duo answered a v1 request with records older than its mintime; asking again at the next poll",
				"mintime", ask, "newest", got.last)
			return Page{Cursor: cur}, nil
		}
		if next > cur.MinTime && len(raws) >= PageSize && got.allAtMin {
			// A full page of one second: if Duo split it after all, the
			// rest of it cannot be asked for.
			r.opts.Logger.Warn("a full page holds only already-delivered records of one second; reading on from the next second",
				"second", time.Unix(cur.MinTime, 0).UTC())
		}
		ask = next
	}
}

// v1Ask is where a v1 read of one cursor stands between requests.
type v1Ask struct {
	cursor Cursor
	ask    int64
}

// v1Page makes the page of the records accepted past cur.
func (r *Reader) v1Page(cur Cursor, got v1Accepted, cutoff int64) Page {
	accepted := got.recs
	slices.SortStableFunc(accepted, func(a, b v1Record) int { return cmp.Compare(a.ts, b.ts) })
	last := accepted[len(accepted)-1].ts
	next := Cursor{MinTime: last}
	if last == cur.MinTime {
		next.Seen = append(next.Seen, cur.Seen...)
	}
	page := Page{Records: make([]json.RawMessage, len(accepted)), Hashes: make([]string, len(accepted))}
	for i, a := range accepted {
		page.Records[i], page.Hashes[i] = a.raw, a.hash
		if a.ts == last {
			next.Seen = append(next.Seen, a.hash)
		}
	}
	slices.Sort(next.Seen)
	page.Cursor = next
	// A page may stop short of newer records, whatever its size: only an
	// answer that reaches past the cutoff shows the log caught up.
	page.More = !got.pending
	if got.pending {
		page.Through = time.Unix(cutoff, 0)
	}
	return page
}

// v1Record is a record accepted from a v1 page.
type v1Record struct {
	raw  json.RawMessage
	ts   int64
	hash string
}

// v1Accepted is what a v1 page brings past a cursor.
type v1Accepted struct {
	recs []v1Record
	// allAtMin: every record is at the cursor's second.
	allAtMin bool
	// pending: some records are too young to be read yet.
	pending bool
	// first and last are the oldest and newest seconds of the answer.
	first, last int64
}

// acceptV1 picks the records of raws that follow cur: from its second on,
// not yet delivered, and not younger than cutoff.
func (r *Reader) acceptV1(raws []json.RawMessage, cur Cursor, cutoff int64) v1Accepted {
	seen := make(map[string]int, len(cur.Seen))
	for _, h := range cur.Seen {
		seen[h]++
	}
	out := v1Accepted{allAtMin: true}
	for i, raw := range raws {
		ts, ok := recordSecond(raw)
		if !ok {
			r.opts.Logger.Warn("record without a timestamp; placing it at the cursor's second")
			ts = cur.MinTime
		}
		if i == 0 || ts < out.first {
			out.first = ts
		}
		out.last = max(out.last, ts)
		switch {
		case ts > cur.MinTime:
			out.allAtMin = false
		case ts < cur.MinTime:
			out.allAtMin = false
			continue // not asked for: delivered before
		}
		if ts > cutoff {
			out.pending = true // not yet safe to read
			continue
		}
		h := r.canon.hash(raw)
		if ts == cur.MinTime && seen[h] > 0 {
			seen[h]-- // a multiset: identical records are counted, not merged
			continue
		}
		out.recs = append(out.recs, v1Record{raw, ts, h})
	}
	return out
}

// getV1 requests the page from mintime (s) on.
func (r *Reader) getV1(ctx context.Context, mintime int64) ([]json.RawMessage, *duo.Response, error) {
	resp, err := r.client.Get(ctx, r.path, map[string][]string{"mintime": {strconv.FormatInt(mintime, 10)}})
	if err != nil {
		return nil, nil, err
	}
	r.held = append(r.held, resp)
	r.answers++
	raws, err := decodeV1Page(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("decode %s page: %w", r.path, err)
	}
	return raws, resp, nil
}

// decodeV1Page splits a v1 response member, a bare array, into records
// (slices of body).
func decodeV1Page(body []byte) ([]json.RawMessage, error) {
	var s jsonscan.Scanner
	s.Reset(body)
	if s.Peek() != '[' {
		return nil, errors.New("response is not a JSON array")
	}
	var raws []json.RawMessage
	err := s.Elements(func() error {
		raw, err := s.Skip() // checked by the normalizer, as for v2 pages
		raws = append(raws, json.RawMessage(raw))
		return err
	})
	if err == nil {
		err = s.End()
	}
	return raws, err
}

// recordSecond returns a v1 record's "timestamp" (Unix seconds).
func recordSecond(raw []byte) (int64, bool) {
	var s jsonscan.Scanner
	s.Reset(raw)
	if s.Peek() != '{' {
		return 0, false
	}
	var ts jsonscan.Value
	err := s.Members(func(key []byte, esc bool) error {
		if string(jsonscan.Key(key, esc)) == "timestamp" {
			return s.Into(&ts)
		}
		return s.Into(nil)
	})
	if err != nil || ts.Kind != jsonscan.Number {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(ts.Raw), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(ts.Raw), 64)
	return int64(f), err == nil
}
