package duolog

import (
	"slices"
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
// delivered (some at exactly it may be too).
func (c Cursor) Time(v1 bool) time.Time {
	if v1 {
		return time.Unix(c.MinTime, 0)
	}
	if c.MaxTimeMs != 0 && c.NextOffset != "" {
		if ms, ok := offsetMillis(c.NextOffset); ok {
			return time.UnixMilli(ms)
		}
	}
	return time.UnixMilli(c.MinTimeMs)
}

// offsetMillis reads the timestamp part of a "ms,id" next_offset.
func offsetMillis(off string) (int64, bool) {
	var ms int64
	for i := 0; i < len(off) && off[i] != ','; i++ {
		c := off[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		ms = ms*10 + int64(c-'0')
	}
	return ms, ms > 0
}
