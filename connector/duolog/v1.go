package duolog

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// nextV1 reads the v1 logs (admin, offline enrollment, telephony v1). They
// take only an inclusive mintime in seconds and return the earliest ~1000
// records, in no guaranteed order, without splitting a second. The cursor
// is the last delivered second plus the hashes of the records delivered at
// that second: the next request asks for that second again, and records
// already delivered there are dropped. Records that arrive late within the
// boundary second are therefore still delivered, and none twice.
func (r *Reader) nextV1(ctx context.Context) (Page, error) {
	cur := r.cur.clone()
	now := r.duoNow()
	if horizon := now.Add(-Horizon).Unix(); cur.MinTime < horizon {
		r.opts.Logger.Warn("cursor is older than Duo's horizon; skipping ahead",
			"log", r.typ, "cursor", time.Unix(cur.MinTime, 0).UTC(), "resume", time.Unix(horizon, 0).UTC())
		cur.MinTime, cur.Seen = horizon, nil
	}
	cutoff := now.Add(-r.opts.Lag).Unix()
	if !r.opts.Until.IsZero() {
		cutoff = min(cutoff, r.opts.Until.Unix())
	}
	if cur.MinTime > cutoff {
		return Page{Cursor: cur}, nil
	}
	resp, err := r.client.Get(ctx, r.path, map[string][]string{"mintime": {strconv.FormatInt(cur.MinTime, 10)}})
	if err != nil {
		return Page{}, err
	}
	raws, err := decodeV1Page(resp.Body)
	if err != nil {
		return Page{}, fmt.Errorf("decode %s page: %w", r.path, err)
	}
	// The answer may have revealed Duo's clock: cut by it.
	cutoff = min(cutoff, r.duoNow().Add(-r.opts.Lag).Unix())

	seen := make(map[string]int, len(cur.Seen))
	for _, h := range cur.Seen {
		seen[h]++
	}
	type rec struct {
		raw  json.RawMessage
		ts   int64
		hash string
	}
	var accepted []rec
	allAtMin, pending := true, false
	for _, raw := range raws {
		ts, ok := recordSecond(raw)
		if !ok {
			r.opts.Logger.Warn("record without a timestamp; placing it at the cursor's second", "log", r.typ)
			ts = cur.MinTime
		}
		if ts != cur.MinTime {
			allAtMin = false
		}
		if ts > cutoff {
			pending = true // not yet safe to read
			continue
		}
		if ts < cur.MinTime {
			continue // not asked for
		}
		h := RecordHash(raw)
		if ts == cur.MinTime && seen[h] > 0 {
			seen[h]-- // a multiset: identical records are counted, not merged
			continue
		}
		accepted = append(accepted, rec{raw, ts, h})
	}

	if len(accepted) == 0 {
		if len(raws) >= PageSize && allAtMin {
			// Duo split a second after all: the rest of it cannot be
			// asked for. Move on rather than loop.
			r.opts.Logger.Warn("a full page holds only already-delivered records of one second; moving past it",
				"log", r.typ, "second", time.Unix(cur.MinTime, 0).UTC())
			return Page{Cursor: Cursor{MinTime: cur.MinTime + 1}, More: true}, nil
		}
		return Page{Cursor: cur}, nil
	}
	slices.SortStableFunc(accepted, func(a, b rec) int { return cmp.Compare(a.ts, b.ts) })
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
	return page, nil
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
		v, err := s.Value()
		raws = append(raws, json.RawMessage(v.Raw))
		return err
	})
	if err == nil {
		err = s.End()
	}
	return raws, err
}

// recordSecond returns a v1 record's "timestamp" (Unix seconds).
func recordSecond(raw []byte) (int64, bool) {
	var v struct {
		Timestamp json.Number `json:"timestamp"`
	}
	if json.Unmarshal(raw, &v) != nil || v.Timestamp == "" {
		return 0, false
	}
	if n, err := v.Timestamp.Int64(); err == nil {
		return n, true
	}
	f, err := v.Timestamp.Float64()
	return int64(f), err == nil
}

// RecordHash identifies a record that has no id of its own: the SHA-256
// (first 16 bytes, hex) of its canonical JSON (keys sorted, no
// insignificant space), so the same record hashes the same however it was
// serialized.
func RecordHash(raw []byte) string {
	canon := raw
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) == nil {
		if b, err := json.Marshal(v); err == nil {
			canon = b
		}
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:16])
}
