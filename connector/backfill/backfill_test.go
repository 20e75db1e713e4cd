package backfill

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/duo"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"1d":                   now.Add(-24 * time.Hour),
		"2026-12-01":           time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		"2026-12-01T10:00:00Z": time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := ParseWhen(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseWhen(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseWhen("tomorrow", now); err == nil || !strings.Contains(err.Error(), "neither now") {
		t.Errorf("ParseWhen(tomorrow) = %v", err)
	}
}

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	lag := 150 * time.Second
	for _, tc := range []struct {
		since, until string
		name         string
		from, to     time.Time
		notice       string
		err          string
	}{
		{since: "30d", name: "30d_ago-now", from: now.Add(-30 * 24 * time.Hour), to: now.Add(-lag)},
		{since: "36h", until: "12h", name: "1d12h_ago-12h_ago", from: now.Add(-36 * time.Hour), to: now.Add(-12 * time.Hour)},
		{since: "2026-12-01", until: "2026-12-02T06:00:00Z", name: "20261201T000000Z-20261202T060000Z",
			from: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)},
		{since: "1d", until: "2030-01-01", name: "1d_ago-20300101T000000Z", from: now.Add(-24 * time.Hour), to: now, notice: "is in the future; the backfill ends now"},
		{since: "", err: "--since is required"},
		{since: "yesterday", err: "--since: \"yesterday\" is neither"},
		{since: "1d", until: "2d", err: "must be before --until"},
		{since: "1m", err: "must be before now - lag"},
		{since: "300d", until: "200d", err: "before Duo's 180-day horizon"},
	} {
		s, notice, err := Parse(tc.since, tc.until, now, lag)
		var ue *UsageError
		switch {
		case tc.err != "":
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q, %q): error %v, want a UsageError with %q", tc.since, tc.until, err, tc.err)
			}
			continue
		case err != nil:
			t.Errorf("Parse(%q, %q): %v", tc.since, tc.until, err)
			continue
		}
		if s.Name != tc.name || !s.Since.Equal(tc.from) || !s.Until.Equal(tc.to) {
			t.Errorf("Parse(%q, %q) = %s [%s, %s], want %s [%s, %s]", tc.since, tc.until, s.Name, s.Since, s.Until, tc.name, tc.from, tc.to)
		}
		if tc.notice == "" && notice != "" || !strings.Contains(notice, tc.notice) {
			t.Errorf("Parse(%q, %q): notice %q, want %q", tc.since, tc.until, notice, tc.notice)
		}
	}
}

// TestBeginContinuesTheSameRange: a backfill begun with relative times
// keeps its first range when continued, a finished log is not read again,
// one with every log finished is a FinishedError, and Again starts over.
func TestBeginContinuesTheSameRange(t *testing.T) {
	files, err := checkpoint.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	first, _, _ := Parse("1d", "", now, time.Minute)
	run, err := Begin(context.Background(), files, &first, now)
	if err != nil || run.Resumed() || run.Finished("auth") {
		t.Fatalf("new backfill: %v, resumed %t", err, run.Resumed())
	}
	if err := run.Cover(context.Background(), []string{"auth", "admin"}); err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(context.Background(), []string{"auth"}, now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	again, _, _ := Parse("1d", "", later, time.Minute)
	run, err = Begin(context.Background(), files, &again, later)
	if err != nil || !run.Resumed() {
		t.Fatalf("continued: %v", err)
	}
	if !again.Since.Equal(first.Since) || !again.Until.Equal(first.Until) {
		t.Errorf("continued over [%s, %s], want the first range [%s, %s]", again.Since, again.Until, first.Since, first.Until)
	}
	if !run.Finished("auth") || run.Finished("admin") {
		t.Errorf("finished: auth %t admin %t, want true false", run.Finished("auth"), run.Finished("admin"))
	}
	var fe *FinishedError
	if err := run.NothingLeft(0); !errors.As(err, &fe) || !strings.Contains(err.Error(), "--again") {
		t.Errorf("nothing left: %v", err)
	}
	if err := run.NothingLeft(1); err != nil {
		t.Errorf("one log left: %v", err)
	}
	again.Again = true
	if run, err = Begin(context.Background(), files, &again, later); err != nil || run.Resumed() || run.Finished("auth") {
		t.Errorf("--again: %v; resumed %t", err, run.Resumed())
	}
}

func TestStatusOf(t *testing.T) {
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b := checkpoint.Backfill{Name: "b", Since: since, Until: since.Add(10 * time.Hour), Finished: map[string]time.Time{"admin": since}}
	st := StatusOf(b, map[string]time.Time{"auth": since.Add(4 * time.Hour), "admin": since.Add(time.Hour)}, nil)
	if st.Progress["auth"] != 0.4 || st.Progress["admin"] != 1 || st.Done {
		t.Errorf("status = %+v, want auth 0.4, admin 1, not done", st)
	}
	b.Finished["auth"] = since
	if st := StatusOf(b, nil, []duo.LogType{duo.Auth, duo.Admin}); !st.Done {
		t.Errorf("every log finished: %+v", st)
	}
	// A log asked for that has no cursor yet is not done.
	if st := StatusOf(b, nil, []duo.LogType{duo.Auth, duo.Telephony}); st.Done {
		t.Errorf("telephony not begun: %+v", st)
	}
	// A log the backfill reads, reset (no cursor, not finished): pending.
	b.Logs = []string{"admin", "auth"}
	delete(b.Finished, "auth")
	if st := StatusOf(b, nil, nil); st.Done || st.Progress["auth"] != 0 {
		t.Errorf("auth reset: %+v, want auth pending at 0", st)
	} else if _, listed := st.Progress["auth"]; !listed {
		t.Errorf("auth reset is absent: %+v", st)
	}
}

func TestProgress(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s := Spec{Since: since, Until: since.Add(10 * 24 * time.Hour)}
	p := s.Progress(5000, since.Add(5*24*time.Hour), time.Time{}, 10*time.Second)
	if p.Fraction != 0.5 || p.ETA != 10*time.Second || p.Rate != 500 {
		t.Fatalf("progress %+v after 10 s at 50%%", p)
	}
	// A v1 log: the cursor stays at its newest record, Duo checked further.
	if p := s.Progress(0, since, since.Add(24*time.Hour), time.Second); p.Fraction != 0.1 {
		t.Errorf("checked through day 1: %+v", p)
	}
	if p := s.Progress(1, since.Add(30*24*time.Hour), time.Time{}, time.Second); p.Fraction != 1 || p.ETA != 0 || !p.Covered.Equal(s.Until) {
		t.Errorf("past the end: %+v", p)
	}
	// A v1 log checked through the end's second is done, not at 99%
	// (issue 21, item 15).
	odd := Spec{Since: since, Until: since.Add(time.Hour + 500*time.Millisecond)}
	if p := odd.Progress(1, since, since.Add(time.Hour), time.Second); p.Fraction != 1 {
		t.Errorf("v1 log at the end's second: %+v", p)
	}
}
