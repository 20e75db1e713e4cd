package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/metrics"
	"github.com/duo-connector/duo-connector/connector/runner"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// reportProgress shows a backfill's progress until done: on a terminal, a
// bar per log redrawn every second; otherwise a summary line every 30 s.
func reportProgress(w io.Writer, logger *slog.Logger, m *metrics.Metrics, logs []duo.LogType, b runner.Backfill, done <-chan struct{}) {
	tty := isTerminal(w)
	every := 30 * time.Second
	if tty {
		every = time.Second
	}
	start := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	drawn := 0
	for {
		select {
		case <-done:
			if tty {
				drawBars(w, m, logs, b, start, drawn)
			}
			return
		case <-t.C:
		}
		if tty {
			drawn = drawBars(w, m, logs, b, start, drawn)
			continue
		}
		for _, lt := range logs {
			p := progressOf(m, lt, b, start)
			logger.Info("backfill progress", "log", string(lt), "records", p.records, "records_per_second", int(p.rate),
				"covered_until", p.covered.UTC().Format(time.RFC3339), "percent", int(p.fraction*100), "eta", p.eta.Round(time.Second))
		}
	}
}

type progress struct {
	records  int
	rate     float64
	covered  time.Time
	fraction float64
	eta      time.Duration
}

func progressOf(m *metrics.Metrics, lt duo.LogType, b runner.Backfill, start time.Time) progress {
	st := m.State(lt)
	elapsed := time.Since(start)
	p := progress{records: st.Records, rate: float64(st.Records) / max(elapsed.Seconds(), 1e-3), covered: st.CursorTime}
	if st.Checked.After(p.covered) {
		p.covered = st.Checked // a v1 log's cursor stays at its newest record
	}
	if p.covered.Before(b.Since) {
		p.covered = b.Since
	}
	if span := b.Until.Sub(b.Since); span > 0 {
		p.fraction = min(1, float64(p.covered.Sub(b.Since))/float64(span))
	}
	if p.fraction > 0 && p.fraction < 1 {
		p.eta = time.Duration(float64(elapsed) * (1 - p.fraction) / p.fraction)
	}
	return p
}

// drawBars redraws one line per log in place, and returns how many lines
// it drew.
func drawBars(w io.Writer, m *metrics.Metrics, logs []duo.LogType, b runner.Backfill, start time.Time, previous int) int {
	var sb strings.Builder
	if previous > 0 {
		fmt.Fprintf(&sb, "\x1b[%dA", previous) // back to the first bar
	}
	const width = 30
	for _, lt := range logs {
		p := progressOf(m, lt, b, start)
		filled := int(p.fraction * width)
		eta := "--"
		if p.eta > 0 {
			eta = p.eta.Round(time.Second).String()
		}
		fmt.Fprintf(&sb, "\r\x1b[K%-9s [%s%s] %3d%%  %9d records  %7.0f/s  until %s  ETA %s\n",
			lt, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), int(p.fraction*100),
			p.records, p.rate, p.covered.UTC().Format("2006-01-02 15:04"), eta)
	}
	io.WriteString(w, sb.String())
	return len(logs)
}

// summarize logs the final counts of a run.
func summarize(logger *slog.Logger, m *metrics.Metrics, logs []duo.LogType, d time.Duration) {
	total := 0
	attrs := []any{}
	for _, lt := range logs {
		st := m.State(lt)
		total += st.Records
		attrs = append(attrs, string(lt), st.Records)
	}
	requests, retries, limited := m.Requests()
	attrs = append(attrs, "total", total, "duo_requests", requests, "retries", retries, "rate_limited", limited,
		"duration", d.Round(time.Millisecond))
	logger.Info("summary", attrs...)
}
