package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/metrics"
)

// lockedBuffer is a bytes.Buffer safe for the bars' and the test's
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProgressBars: one bar per log with the covered share of the range,
// the records and how far it got; a log line written while the bars are
// drawn goes through them (printed above, not overwritten); at the end a
// finished log, v1 included, stands at 100%, and what is logged after stop
// comes after the bars' last frame.
func TestProgressBars(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	b := backfill.Spec{Since: since, Until: since.Add(10 * 24 * time.Hour)}
	logs := []duo.LogType{duo.Auth, duo.Admin}
	m := metrics.New()
	for _, lt := range logs {
		m.Track("api-x", lt, lt.Path(false))
	}
	m.PagePublished("api-x", duo.Auth, 5000, 0, 0, time.Millisecond, since.Add(5*24*time.Hour))
	var out lockedBuffer
	lw := &logWriter{out: &out}
	logger := slog.New(slog.NewTextHandler(lw, nil))
	refresh := make(chan any)
	stop := startProgress(&out, lw, logger, m, logs, b, progressOptions{bars: true, refresh: refresh, width: 100})
	time.Sleep(300 * time.Millisecond) // an update of the bars
	refresh <- time.Now()
	logger.Info("a log line while the bars run")
	refresh <- time.Now()
	time.Sleep(50 * time.Millisecond)
	mid := out.String()
	if !strings.Contains(mid, "50 %") || !strings.Contains(mid, "5000 rec") || !strings.Contains(mid, "to 2026-11-06 00:00") {
		t.Fatalf("auth bar: %q", mid)
	}
	if !strings.Contains(mid, "a log line while the bars run") {
		t.Fatalf("the log line did not go through the bars: %q", mid)
	}
	// Both logs finish: the v1 log's cursor stays at its last record, but
	// it was checked through the end of the range.
	m.CursorAt("api-x", duo.Auth, b.Until, b.Until)
	m.CursorAt("api-x", duo.Admin, since.Add(24*time.Hour), b.Until)
	m.PollFinished("api-x", duo.Auth, nil)
	m.PollFinished("api-x", duo.Admin, nil)
	stop()
	logger.Info("summary", "total", 5000)
	final := out.String()
	last := final[strings.LastIndex(final, "admin"):]
	if !strings.Contains(last, "100 %") {
		t.Fatalf("the finished v1 log's bar does not end at 100%%: %q", last)
	}
	if !strings.Contains(last, "summary") {
		t.Fatalf("the summary is not after the bars' last frame: %q", final)
	}
	io.WriteString(io.Discard, final)
}
