package duolog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cursor is a reader's resume point. A v2 log (auth, telephony v2) uses
// the window fields, a v1 log (admin, offline enrollment, telephony v1)
// the second fields.
type Cursor struct {
	// MinTimeMs is the window's start (ms, inclusive). With MaxTimeMs
	// zero, no window is in progress and the next starts here.
	MinTimeMs int64 `json:"mintime_ms,omitempty"`
	// MaxTimeMs is the end (ms, inclusive) of the window in progress.
	MaxTimeMs int64 `json:"maxtime_ms,omitempty"`
	// NextOffset is Duo's paging cursor within the window, as sent back.
	NextOffset string `json:"next_offset,omitempty"`

	// MinTime is the next request's mintime (s, inclusive): the last
	// second records were delivered from.
	MinTime int64 `json:"mintime,omitempty"`
	// Seen holds the hashes (RecordHash) of the records already delivered
	// from second MinTime, repeated for identical records.
	Seen []string `json:"seen,omitempty"`
}

func (c Cursor) clone() Cursor {
	c.Seen = slices.Clone(c.Seen)
	return c
}

// Time is how far the log has been delivered: every record before it was
// delivered (some at exactly it may be too). A cursor is of one kind: a
// v1 log's (seconds) or a windowed log's (milliseconds).
func (c Cursor) Time() time.Time {
	if c.MinTimeMs == 0 && c.MaxTimeMs == 0 {
		return time.Unix(c.MinTime, 0)
	}
	if c.MaxTimeMs != 0 && c.NextOffset != "" {
		if ms, ok := offsetMillis(c.NextOffset); ok && ms >= c.MinTimeMs && ms <= c.MaxTimeMs {
			return time.UnixMilli(ms)
		}
	}
	return time.UnixMilli(c.MinTimeMs)
}

// offsetMillis reads the timestamp part of a "ms,id" next_offset. Other
// offsets (Trust Monitor's may be a position, "200") tell no time.
func offsetMillis(off string) (int64, bool) {
	head, _, ok := strings.Cut(off, ",")
	if !ok {
		return 0, false
	}
	ms, err := strconv.ParseInt(head, 10, 64)
	return ms, err == nil && ms > 0
}

// ParseCursor decodes a saved cursor and checks that it holds a position:
// a cursor without one (such as {}) would make a reader start at its
// initial lookback, silently re-reading or skipping months, so it is an
// error like any unreadable cursor.
func ParseCursor(raw []byte) (Cursor, error) {
	var c Cursor
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Cursor{}, fmt.Errorf("not a log cursor: %w", err)
	}
	if dec.More() {
		return Cursor{}, errors.New("not a log cursor: data after it")
	}
	switch {
	case c.MinTimeMs == 0 && c.MinTime == 0:
		return Cursor{}, errors.New("it holds no position (neither mintime_ms nor mintime)")
	case c.MinTimeMs != 0 && c.MinTime != 0:
		return Cursor{}, errors.New("it holds both a millisecond and a second position")
	case c.MinTimeMs < 0 || (c.MinTimeMs != 0 && c.MinTimeMs < 1e12):
		return Cursor{}, fmt.Errorf("mintime_ms %d is not a time in milliseconds", c.MinTimeMs)
	case c.MinTime < 0 || c.MinTime >= 1e11:
		return Cursor{}, fmt.Errorf("mintime %d is not a time in seconds", c.MinTime)
	case c.MaxTimeMs != 0 && c.MaxTimeMs < c.MinTimeMs:
		return Cursor{}, fmt.Errorf("maxtime_ms %d is before mintime_ms %d", c.MaxTimeMs, c.MinTimeMs)
	case c.NextOffset != "" && c.MaxTimeMs == 0:
		return Cursor{}, errors.New("next_offset without the window (maxtime_ms) it belongs to")
	case len(c.Seen) > 0 && c.MinTime == 0:
		return Cursor{}, errors.New("seen without the second (mintime) it belongs to")
	}
	return c, nil
}
