package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/metrics"
	"github.com/duo-connector/duo-connector/connector/runner"
)

// TestProgressBars: one bar per log, redrawn in place, with the covered
// share of the range, the records and the cursor time.
func TestProgressBars(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	b := runner.Backfill{Since: since, Until: since.Add(10 * 24 * time.Hour)}
	m := metrics.New("api-x", []duo.LogType{duo.Auth, duo.Admin})
	m.PagePublished(duo.Auth, 5000, 0, time.Millisecond, since.Add(5*24*time.Hour))
	var out bytes.Buffer
	start := time.Now().Add(-10 * time.Second)
	n := drawBars(&out, m, []duo.LogType{duo.Auth, duo.Admin}, b, start, 0)
	n = drawBars(&out, m, []duo.LogType{duo.Auth, duo.Admin}, b, start, n)
	s := out.String()
	if n != 2 || !strings.Contains(s, "\x1b[2A") {
		t.Fatalf("the second frame does not redraw the first in place: %q", s)
	}
	if !strings.Contains(s, " 50%") || !strings.Contains(s, "5000 records") || !strings.Contains(s, "until 2026-11-06 00:00") {
		t.Fatalf("auth bar: %q", s)
	}
	if !strings.Contains(s, "admin") || !strings.Contains(s, "  0%") {
		t.Fatalf("admin bar: %q", s)
	}
	p := progressOf(m, duo.Auth, b, start)
	if p.eta <= 0 || p.eta > time.Minute {
		t.Fatalf("eta %s after 10 s at 50%%", p.eta)
	}
}
