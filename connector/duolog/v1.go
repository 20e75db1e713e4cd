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
// no guaranteed order, without splitting a second. The cursor is the last
// delivered second plus the hashes of the records delivered at that
// second: the next request asks for that second again, and records already
// delivered there are dropped. Records that arrive late within the
// boundary second are therefore still delivered, and none twice.
//
// Duo's texts disagree on whether mintime is inclusive ("at or after") or
// exclusive ("after"). The request asks from one second before the cursor,
// so that the cursor's second is in the answer under either reading; what
// comes from before it is dropped.
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
	var raws []json.RawMessage
	var got v1Accepted
	for ask := cur.MinTime - 1; ; ask++ {
		var resp *duo.Response
		var err error
		raws, resp, err = r.getV1(ctx, ask)
		if err != nil {
			return Page{}, err
		}
		// The answer tells Duo's clock: cut by it (a clock may have
		// stepped since the skew was last measured).
		cutoff = min(cutoff, r.duoNow().Add(-r.opts.Lag).Unix())
		if limit, ok := r.duoLimit(resp); ok {
			cutoff = min(cutoff, limit.Unix())
		}
		got = r.acceptV1(raws, cur, cutoff)
		if len(got.recs) > 0 || len(raws) < PageSize || !got.before || ask == cur.MinTime {
			break
		}
		// Read inclusively, the second before the cursor crowded a full
		// page: ask for the cursor's own second instead.
	}
	accepted, allAtMin, pending := got.recs, got.allAtMin, got.pending

	if len(accepted) == 0 {
		if len(raws) >= PageSize && allAtMin && cur.MinTime <= cutoff {
			// Duo split a second after all: the rest of it cannot be
			// asked for. Move on rather than loop.
			r.opts.Logger.Warn("a full page holds only already-delivered records of one second; moving past it",
				"second", time.Unix(cur.MinTime, 0).UTC())
			return Page{Cursor: Cursor{MinTime: cur.MinTime + 1}, More: true}, nil
		}
		p := Page{Cursor: cur}
		if len(raws) < PageSize {
			p.Through = time.Unix(cutoff, 0) // all Duo had up to it
		}
		return p, nil
	}
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
	page.More = len(raws) >= PageSize && !pending
	if len(raws) < PageSize {
		page.Through = time.Unix(cutoff, 0)
	}
	return page, nil
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
	// allAtMin: no record is after the cursor's second.
	allAtMin bool
	// pending: some records are too young to be read yet.
	pending bool
	// before: some records are from before the cursor's second.
	before bool
}

// acceptV1 picks the records of raws that follow cur: from its second on,
// not yet delivered, and not younger than cutoff.
func (r *Reader) acceptV1(raws []json.RawMessage, cur Cursor, cutoff int64) v1Accepted {
	seen := make(map[string]int, len(cur.Seen))
	for _, h := range cur.Seen {
		seen[h]++
	}
	out := v1Accepted{allAtMin: true}
	for _, raw := range raws {
		ts, ok := recordSecond(raw)
		if !ok {
			r.opts.Logger.Warn("record without a timestamp; placing it at the cursor's second")
			ts = cur.MinTime
		}
		switch {
		case ts > cur.MinTime:
			out.allAtMin = false
		case ts < cur.MinTime:
			out.before = true
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
	defer scanPage(&s, body)()
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
