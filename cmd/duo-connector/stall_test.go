package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// addBursts adds, to each v1 log of w, seconds that hold more than a page
// (an AD sync, a bulk import) right before seconds that fill the rest of
// one, as Duo's v1 endpoints must page through them.
func (w *world) addBursts(at time.Time, logs ...duo.LogType) {
	gen := duotest.NewGenerator(99)
	sec := at.Truncate(time.Second)
	for _, lt := range logs {
		var recs []duotest.Record
		recs = append(recs, gen.Burst(lt, sec.Add(-time.Second), 2500)...)
		recs = append(recs, gen.Burst(lt, sec, 600)...)
		recs = append(recs, gen.Burst(lt, sec.Add(time.Second), 700)...)
		w.records[lt] = append(w.records[lt], recs...)
		w.duo.Add(recs...)
	}
}

// TestBusySecondsWithRealisticBudget: the built binary, with the default
// request budget's order of magnitude (2 requests/s), Duo's v1 pages
// trimmed to whole seconds, and v1 seconds of more than a page: run --once
// and a backfill both finish, with every record delivered once (issue 19,
// items 1 and 2: the v1 reads stalled for good under the budget, and short
// pages ended the log early).
func TestBusySecondsWithRealisticBudget(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 3000, duo.Admin: 1500, duo.Offline: 300}, duotest.WithV1TrimmedPages())
	w.rps = 2
	w.addBursts(time.Now().Add(-5*time.Hour), duo.Admin, duo.Offline)
	gen := duotest.NewGenerator(7)
	burst := gen.Burst(duo.Auth, time.Now().Add(-4*time.Hour), 2500) // v2: a second of more than a page
	w.records[duo.Auth] = append(w.records[duo.Auth], burst...)
	w.duo.Add(burst...)
	cfg := w.config(t, "logs: [auth, admin, offline]")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary(t), "run", "--once", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("run --once: %v (a stalled read never ends)\n%s", err, tail(string(out), 3000))
	}
	counts, recs := w.consumed(t)
	if dups := w.checkDelivered(t, counts); len(recs) != 3000+1500+300+2500+2*3800 {
		t.Fatalf("%d messages, duplicates %v", len(recs), dups)
	}

	// A backfill over the busy seconds, with its own cursors, finishes too
	// and leaves nothing of its range out.
	since := time.Now().Add(-6 * time.Hour).Format(time.RFC3339)
	until := time.Now().Add(-4*time.Hour - 30*time.Minute).Format(time.RFC3339)
	out, err = exec.CommandContext(ctx, binary(t), "backfill", "--config", cfg, "--logs", "admin,offline", "--since", since, "--until", until).CombinedOutput()
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, tail(string(out), 3000))
	}
	counts, _ = w.consumed(t)
	for _, lt := range []duo.LogType{duo.Admin, duo.Offline} {
		got := counts["duo."+lt.EventType()]
		for _, r := range w.records[lt] {
			in := r.Time.Unix() >= time.Now().Add(-6*time.Hour).Unix()+5 && r.Time.Before(time.Now().Add(-4*time.Hour-31*time.Minute))
			if in && got[eventID(r)] < 2 {
				t.Fatalf("%s record at %s in the backfill's range was not published again", lt, r.Time.UTC())
			}
		}
	}
}

// TestOneShotStallFails: a log that Duo answers without ever letting it
// move makes run --once exit non-zero, naming the stalled log, instead of
// spinning; the other logs are delivered.
func TestOneShotStallFails(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 300, duo.Admin: 200})
	w.duo.Inject(duotest.Fault{Path: duo.PathAuthV2, StuckOffset: true, Count: 100000})
	cfg := w.config(t, "logs: [auth, admin]\nstall_turns: 3")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "run", "--once", "--config", cfg)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("run --once still running after 2 minutes:\n%s", tail(string(out), 3000))
	}
	if err == nil || cmd.ProcessState.ExitCode() != exitFailure || !strings.Contains(string(out), "log stalled") || !strings.Contains(string(out), "log=auth") {
		t.Fatalf("exit %v, want a failure naming the stalled log:\n%s", err, tail(string(out), 3000))
	}
	counts, _ := w.consumed(t)
	if n := len(counts["duo.admin_log"]); n != 200 {
		t.Fatalf("%d admin records delivered beside the stalled log, want 200", n)
	}
}

// TestBackfillUntilNowReadsItsEnd: a backfill whose range ends within the
// lag of now (--until now, or as here a little earlier, to wait less)
// reads its last moments too, waiting for Duo's delay to pass them,
// instead of claiming them read at now − lag (issue 19, item 12).
func TestBackfillUntilNowReadsItsEnd(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 200, duo.Admin: 100})
	gen := duotest.NewGenerator(8)
	// The range's end and its last records: readable at Duo (older than
	// its 2 minutes), but within the connector's lag of 2.5 minutes when
	// the backfill starts.
	end := time.Now().Add(-2*time.Minute - 15*time.Second).Truncate(time.Second)
	for _, lt := range []duo.LogType{duo.Auth, duo.Admin} {
		recs := []duotest.Record{gen.Record(lt, end.Add(-time.Second)), gen.Record(lt, end)}
		w.records[lt] = append(w.records[lt], recs...)
		w.duo.Add(recs...)
	}
	cfg := w.config(t, "logs: [auth, admin]")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary(t), "backfill", "--config", cfg, "--since", "1d", "--until", end.Format(time.RFC3339)).CombinedOutput()
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, tail(string(out), 3000))
	}
	if !strings.Contains(string(out), "waiting for Duo's availability delay") {
		t.Errorf("the wait for Duo's delay is not said:\n%s", tail(string(out), 2000))
	}
	counts, _ := w.consumed(t)
	w.checkDelivered(t, counts)
}

// TestClusterWaitsForKafkaAtStart: in cluster mode, Kafka down at start is
// waited out, said, and unready, as in the file store's daemon; once the
// broker is back the process joins and delivers (issue 19, item 19: it
// exited at once, and the shipped unit gave up after its restart limit).
func TestClusterWaitsForKafkaAtStart(t *testing.T) {
	bin := binary(t)
	srv := duotest.New(t, duotest.WithoutRequestLog())
	broker, err := kafkatest.Start(2, topics, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Stop)
	srv.AddChild("DA1", "Alpha Corp")
	want := childRecords(srv, "DA1", 77, 50)
	cfg := mspConfig(t, srv, broker.Addr, 1000, `
  retry: {initial_backoff: 10ms, max_backoff: 100ms, max_attempts: 50}
  child_accounts: {enabled: true}
schedule: "@every 1s"
jitter: 0s
shutdown_timeout: 2s
checkpoint: {store: kafka, partitions: 4, session_timeout: 6s}
`)
	broker.Stop()
	addr := freeAddr(t)
	cmd, stderr := startDaemon(t, bin, []string{"DUO_CONNECTOR_HTTP_LISTEN=" + addr}, "run", "--config", cfg)
	waitFor(t, func() bool { return strings.Count(stderr.String(), "waiting for Kafka") >= 2 })
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("exited while Kafka was down:\n%s", stderr.String())
	}
	if code, body := httpGet(addr, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d while Kafka is down: %s", code, body)
	}
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		recs, err := kafkatest.ReadAll(ctx, broker.Addr, topics...)
		return err == nil && len(recs) >= len(want)
	})
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, tail(stderr.String(), 3000))
	}
}

// TestInterruptedOneShotFails: a backfill or run --once stopped by a signal
// before its end exits with status 3 and says to run it again, instead of
// 0 (a Job or cron wrapper took the range as done: a silent gap); a second
// signal stops it at once (issue 21, item 2).
func TestInterruptedOneShotFails(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 30000})
	w.rps = 2
	cfg := w.config(t, "logs: [auth]")
	for _, tc := range []struct {
		name    string
		args    []string
		signals int
		// slowStop makes stopping wait (Kafka gone, a page unacknowledged)
		// so that the second signal arrives while the first is honoured.
		slowStop bool
		want     string
	}{
		{"backfill", []string{"backfill", "--config", cfg, "--since", "1d"}, 1, false, "run the same command again to continue"},
		{"run --once, twice signalled", []string{"run", "--once", "--config", cfg}, 2, true, "second signal: stopping at once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary(t), tc.args...)
			var out syncBuffer
			cmd.Stderr = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			waitFor(t, func() bool { return strings.Contains(out.String(), "duo-connector started") })
			time.Sleep(time.Second)
			if tc.slowStop {
				w.kafka.Stop()
				time.Sleep(time.Second)
			}
			for range tc.signals {
				cmd.Process.Signal(os.Interrupt)
				time.Sleep(50 * time.Millisecond)
			}
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d, want %d saying %q:\n%s", code, exitInterrupted, tc.want, tail(out.String(), 2000))
			}
		})
	}
}
