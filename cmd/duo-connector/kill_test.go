package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// kills is how many times TestKillAndRestart kills the connector:
// SOAK_KILLS overrides the default (make soak raises it).
func kills(t *testing.T) int {
	if s := os.Getenv("SOAK_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SOAK_KILLS=%q", s)
		}
		return n
	}
	return 20
}

// TestKillAndRestart SIGKILLs the connector, a separate process, at random
// moments while it drains a backlog, and restarts it each time. Then it
// lets one run finish: no record may be lost, and each log may repeat at
// most one page per kill (the page in flight). The request budget is a
// realistic one (2 requests/s), Duo's v1 pages are trimmed to whole
// seconds, and some seconds hold more than a page (v1 and v2).
func TestKillAndRestart(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 30000, duo.Admin: 8000, duo.Offline: 2000, duo.Telephony: 10000, duo.Activity: 4000, duo.TrustMonitor: 1500},
		duotest.WithV1TrimmedPages())
	w.rps = 2 // the order of the default: the kills land all along the backlog
	w.addBursts(time.Now().Add(-12*time.Hour), duo.Admin, duo.Offline)
	burst := duotest.NewGenerator(13).Burst(duo.Auth, time.Now().Add(-11*time.Hour), 2500)
	w.records[duo.Auth] = append(w.records[duo.Auth], burst...)
	w.duo.Add(burst...)
	cfg := w.config(t, "logs: [auth, admin, offline, telephony, activity, trust_monitor]")
	n := kills(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	// Kills land within window of the start; a machine so busy that no
	// page gets through in it gets a longer one, so that the kills
	// still land along the backlog rather than all before the first page.
	window := 700 * time.Millisecond
	for i := range n {
		cmd := exec.Command(binary(t), "run", "--config", cfg)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it at a random moment of its work, not of its start-up
		// (which a busy machine can make longer than the whole range).
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "duo-connector started") && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100*time.Millisecond + time.Duration(rng.Int64N(int64(window-100*time.Millisecond))))
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: the connector exited by itself (%v) before it was killed: %s", i, err, stderr.String())
		}
		if saved, _ := filepath.Glob(filepath.Join(w.stateDir, "*.json")); len(saved) == 0 {
			window = min(2*window, 10*time.Second)
		}
	}
	_, before := w.consumed(t)
	if len(before) == 0 {
		t.Fatal("nothing was delivered between the kills")
	}
	t.Logf("%d messages delivered across the kills, before the final run", len(before))
	out, err := exec.Command(binary(t), "run", "--once", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	counts, recs := w.consumed(t)
	dups := w.checkDelivered(t, counts)
	total := 0
	for lt, d := range dups {
		total += d
		if d > n*duolog.PageSize {
			t.Errorf("%s: %d duplicates for %d kills: more than one page per kill", lt, d, n)
		}
	}
	t.Logf("%d kills: %d messages for %d records, %d duplicates (%v), 0 lost", n, len(recs), len(recs)-total, total, dups)
}

// TestBrokerOutage stops the broker mid-run for longer than kafka-go's own
// retries, then restarts it on the same port with its data. The connector
// stays up, the cursors saved during the outage never pass a record Kafka
// had not acknowledged, and in the end nothing is lost.
func TestBrokerOutage(t *testing.T) {
	w := newWorld(t, t.TempDir(), map[duo.LogType]int{duo.Auth: 20000, duo.Admin: 5000, duo.Telephony: 5000})
	w.rps = 10
	cfg := w.config(t, "logs: [auth, admin, telephony]")
	cmd := exec.Command(binary(t), "run", "--config", cfg)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, func() bool { _, recs := w.consumed(t); return len(recs) > 3000 })

	w.kafka.Stop()
	time.Sleep(12 * time.Second) // kafka-go alone gives up after about 7.4 s
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the connector died during the outage: %s", stderr.String())
	}
	cursors := map[duo.LogType]time.Time{}
	for _, lt := range []duo.LogType{duo.Auth, duo.Admin, duo.Telephony} {
		data, err := os.ReadFile(checkpoint.FilePath(w.stateDir, checkpoint.Key{Account: w.duo.Host, Log: string(lt)}))
		if err != nil {
			continue // no page of this log was acknowledged yet
		}
		var doc struct{ Cursor duolog.Cursor }
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		cursors[lt] = doc.Cursor.Time()
	}
	if err := w.kafka.Start(); err != nil {
		t.Fatal(err)
	}
	counts, _ := w.consumed(t)
	for lt, at := range cursors {
		for _, r := range w.records[lt] {
			if r.Time.Before(at) && counts["duo."+lt.EventType()][eventID(r)] == 0 {
				t.Fatalf("%s cursor at %s passed record %s (%s) that Kafka does not have", lt, at, eventID(r), r.Time)
			}
		}
	}
	waitFor(t, func() bool {
		_, recs := w.consumed(t)
		return len(recs) >= 30000
	})
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("connector exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("connector did not stop within 30 s of SIGTERM")
	}
	counts, recs := w.consumed(t)
	dups := w.checkDelivered(t, counts)
	t.Logf("outage survived: %d messages for 30000 records, duplicates %v", len(recs), dups)
}
