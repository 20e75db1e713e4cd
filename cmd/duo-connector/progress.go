package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/metrics"
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

// logWriter is where log lines go: stderr, or, while progress bars are
// drawn, the bars' container, which prints them above the bars instead of
// letting the next redraw overwrite them.
type logWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	out := w.out
	w.mu.Unlock()
	return out.Write(p)
}

func (w *logWriter) set(out io.Writer) {
	w.mu.Lock()
	w.out = out
	w.mu.Unlock()
}

// progressOptions configure a progress report.
type progressOptions struct {
	// bars draws bars (a terminal); otherwise a log line every interval.
	bars     bool
	interval time.Duration
	// refresh, when set, redraws the bars on each receive instead of
	// every second (tests).
	refresh <-chan any
	// width, when set, is the line width (default: the terminal's).
	width int
}

// startProgress shows a backfill's progress until the returned stop is
// called: on a terminal, a bar per log (records, rate, the time covered
// against the range, ETA) with the log lines printed above the bars;
// elsewhere a line per log every 30 s. stop draws the bars' last state
// (100% for a log that finished) and gives stderr back to the log lines,
// so the summary that follows stays on screen.
func startProgress(out io.Writer, lw *logWriter, logger *slog.Logger, m *metrics.Metrics, logs []duo.LogType, b backfill.Spec, opts progressOptions) (stop func()) {
	start := time.Now()
	if !opts.bars {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(opts.interval)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
				}
				for _, lt := range logs {
					p := progressOf(m, lt, b, start)
					if p.Fraction >= 1 {
						logger.Info("backfill progress", "log", string(lt), "records", p.Records, "done", true)
						continue
					}
					logger.Info("backfill progress", "log", string(lt), "records", p.Records, "records_per_second", int(p.Rate),
						"covered_until", p.Covered.UTC().Format(time.RFC3339), "percent", int(p.Fraction*100), "eta", config.FormatDuration(p.ETA.Round(time.Second)))
				}
			}
		})
		return func() { close(done); wg.Wait() }
	}

	copts := []mpb.ContainerOption{mpb.WithOutput(out)}
	if opts.width > 0 {
		copts = append(copts, mpb.WithWidth(opts.width))
	}
	if opts.refresh != nil {
		copts = append(copts, mpb.WithManualRefresh(opts.refresh))
	} else {
		copts = append(copts, mpb.WithRefreshRate(time.Second), mpb.WithAutoRefresh())
	}
	p := mpb.New(copts...)
	const scale = 1000 // a bar counts the covered share of the range in ‰
	bars := make([]*mpb.Bar, len(logs))
	for i, lt := range logs {
		bars[i] = p.AddBar(scale, mpb.BarWidth(20),
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-9s", lt))),
			mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Any(func(decor.Statistics) string {
				pr := progressOf(m, lt, b, start)
				eta := "ETA --"
				switch {
				case pr.Fraction >= 1:
					eta = "done"
				case pr.ETA > 0:
					eta = "ETA " + config.FormatDuration(pr.ETA.Round(time.Second))
				}
				return fmt.Sprintf("  %8d rec %6.0f/s  to %s  %s", pr.Records, pr.Rate, pr.Covered.UTC().Format("2006-01-02 15:04"), eta)
			})),
		)
	}
	lw.set(p)
	update := func() {
		for i, lt := range logs {
			bars[i].SetCurrent(int64(progressOf(m, lt, b, start).Fraction * scale))
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			update()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		update()
		for i, lt := range logs {
			if finished(m, lt) {
				bars[i].SetTotal(scale, true) // finished: the whole range
			} else {
				bars[i].Abort(false) // failed or stopped: keep it as it stands
			}
		}
		p.Wait()
		lw.set(out)
	}
}

// finished reports a log whose poll ended without error: its whole range
// is read (a v1 log's cursor may stay short of the end, at its newest
// record).
func finished(m *metrics.Metrics, lt duo.LogType) bool {
	st := m.Log(lt)
	return st.LastError == "" && !st.LastSuccess.IsZero()
}

// progressOf is how far log lt of backfill b is, started at start.
func progressOf(m *metrics.Metrics, lt duo.LogType, b backfill.Spec, start time.Time) backfill.Progress {
	st := m.Log(lt)
	return b.Progress(st.Records, st.CursorTime, st.Checked, time.Since(start))
}

// summarize logs the final counts of a run.
func summarize(logger *slog.Logger, m *metrics.Metrics, logs []duo.LogType, d time.Duration) {
	logger.Info("summary", append(m.Summary(logs), "duration", d.Round(time.Millisecond))...)
}
