package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
	"github.com/duo-connector/duo-connector/connector/pipeline"
	"github.com/duo-connector/duo-connector/normalize"
)

// binDir holds the connector binary, built on first use by the tests that
// run it as a separate process (and kill it).
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {

	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary returns the connector built with the race detector, building it
// once. Tests that need it are end-to-end: they skip under -short.
func binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the connector binary; skipped with -short")
	}
	binOnce.Do(func() {
		if binDir, binError = os.MkdirTemp("", "duo-connector-bin-"); binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "duo-connector")
		if out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput(); err != nil {
			binError = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

var topics = []string{"duo.auth_log", "duo.admin_log", "duo.offline_log", "duo.telephony_log", "duo.activity_log", "duo.trust_monitor_event"}

// world is a fake Duo and a Kafka broker, with the records the fake holds.
type world struct {
	duo      *duotest.Server
	kafka    *kafkatest.Broker
	records  map[duo.LogType][]duotest.Record
	stateDir string
	skeyFile string
	// rps is the connector's Duo request budget (default: unthrottled).
	rps float64
}

func newWorld(t testing.TB, kafkaDataDir string, counts map[duo.LogType]int, opts ...duotest.Option) *world {
	t.Helper()
	srv := duotest.New(t, append([]duotest.Option{duotest.WithoutRequestLog()}, opts...)...)
	b, err := kafkatest.Start(2, topics, kafkaDataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	w := &world{duo: srv, kafka: b, records: map[duo.LogType][]duotest.Record{}, stateDir: t.TempDir(), rps: 1000}
	w.skeyFile = filepath.Join(t.TempDir(), "skey")
	os.WriteFile(w.skeyFile, []byte(srv.SKey+"\n"), 0o600)
	gen := duotest.NewGenerator(11)
	now := time.Now()
	for lt, n := range counts {
		recs := gen.Fill(lt, now.Add(-20*time.Hour), now.Add(-10*time.Minute), n)
		w.records[lt] = recs
		srv.Add(recs...)
	}
	return w
}

// config writes a configuration file for the world, with extra YAML
// appended (later keys of the same section must not repeat one).
func (w *world) config(t testing.TB, extra string) string {
	t.Helper()
	c := fmt.Sprintf(`
duo:
  api_host: %s
  ikey: %s
  skey_file: %s
  ca_file: %s
  requests_per_second: %g
  retry: {initial_backoff: 10ms, max_backoff: 100ms, max_attempts: 50}
initial_lookback: 24h
state_dir: %s
schedule: "@every 1s"
jitter: 0s
shutdown_timeout: 10s
kafka:
  brokers: [%s]
  topic: duo.{dataset}
%s`, w.duo.Host, w.duo.IKey, w.skeyFile, w.duo.CAFile, w.rps, w.stateDir, w.kafka.Addr, extra)
	p := filepath.Join(t.TempDir(), "duo-connector.yaml")
	if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// documents is the document the normalizer makes of each record the fake
// holds, marked as the connector marks it, by event id.
func (w *world) documents(m normalize.Mapping) map[string][]byte {
	norm, _ := normalize.New(normalize.Options{Mapping: m})
	byID := map[string][]byte{}
	for lt, rs := range w.records {
		for _, r := range rs {
			doc, _ := norm.Normalize(pipeline.Mark(nil, r.Raw, lt.EventType(), w.duo.Host))
			byID[eventID(r)] = doc
		}
	}
	return byID
}

// eventID is the key the connector gives a record.
func eventID(r duotest.Record) string {
	if r.ID != "" {
		return r.ID
	}
	return duolog.RecordHash(r.Raw)
}

// consumed reads every message back and counts them by topic and key.
func (w *world) consumed(t testing.TB) (map[string]map[string]int, []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, w.kafka.Addr, topics...)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[string]int{}
	for _, r := range recs {
		if counts[r.Topic] == nil {
			counts[r.Topic] = map[string]int{}
		}
		counts[r.Topic][string(r.Key)]++
	}
	return counts, recs
}

// checkDelivered fails on any record not in Kafka, and returns how many
// duplicates each log has.
func (w *world) checkDelivered(t *testing.T, counts map[string]map[string]int) map[duo.LogType]int {
	t.Helper()
	dups := map[duo.LogType]int{}
	for lt, recs := range w.records {
		got := counts["duo."+lt.EventType()]
		want := map[string]bool{}
		missing := 0
		for _, r := range recs {
			id := eventID(r)
			want[id] = true
			if got[id] == 0 {
				missing++
			}
		}
		for id, n := range got {
			if !want[id] {
				t.Errorf("%s: message with unknown key %s", lt, id)
			}
			dups[lt] += n - 1
		}
		if missing > 0 {
			t.Errorf("%s: %d of %d records lost", lt, missing, len(recs))
		}
	}
	return dups
}

// TestRunOnceDeliversEverything: 100k records across the four logs, drained
// by run --once into Kafka and read back: the set of event ids is the
// source's, each once, and each document is the normalizer's output for
// the record as the connector marks it.
func TestRunOnceDeliversEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("slow end-to-end test; skipped with -short")
	}
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 40000, duo.Admin: 25000, duo.Offline: 10000, duo.Telephony: 25000})
	cfg := w.config(t, "")
	var stderr bytes.Buffer
	if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, &bytes.Buffer{}, &stderr, nil}); code != 0 {
		t.Fatalf("run --once exited %d: %s", code, stderr.String())
	}
	counts, recs := w.consumed(t)
	if dups := w.checkDelivered(t, counts); len(recs) != 100000 {
		t.Fatalf("%d messages for 100000 records (duplicates %v)", len(recs), dups)
	}
	byID := w.documents(normalize.V1)
	for _, r := range recs {
		if !bytes.Equal(r.Value, byID[string(r.Key)]) {
			t.Fatalf("document for %s differs from the normalizer's:\n got %s\nwant %s", r.Key, r.Value, byID[string(r.Key)])
		}
		if len(r.Headers) != 4 || r.Headers[2].Key != "event.id" || string(r.Headers[2].Value) != string(r.Key) ||
			r.Headers[3].Key != "duo.account_id" || string(r.Headers[3].Value) != w.duo.Host {
			t.Fatalf("headers %v", r.Headers)
		}
	}

	// A second run finds nothing new and publishes nothing.
	if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, &bytes.Buffer{}, &stderr, nil}); code != 0 {
		t.Fatalf("second run --once exited %d: %s", code, stderr.String())
	}
	if _, again := w.consumed(t); len(again) != len(recs) {
		t.Fatalf("second run published %d more messages", len(again)-len(recs))
	}
}

// TestDuoStormsDuringRun: runs of 429s, 5xx and truncated answers during a
// run lose nothing and do not stop it.
func TestDuoStormsDuringRun(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 5000, duo.Admin: 3000, duo.Offline: 500, duo.Telephony: 2000})
	for range 5 {
		w.duo.Inject(duotest.Fault{Status: 429, Count: 6}, duotest.Fault{Status: 503, Count: 2},
			duotest.Fault{Truncate: true}, duotest.Fault{Status: 500})
	}
	var stderr bytes.Buffer
	if code := dispatch([]string{"run", "--once", "--config", w.config(t, "")}, env{nil, &bytes.Buffer{}, &stderr, nil}); code != 0 {
		t.Fatalf("run --once exited %d: %s", code, stderr.String())
	}
	if n := w.duo.PendingFaults(); n != 0 {
		t.Fatalf("%d injected faults never reached", n)
	}
	counts, _ := w.consumed(t)
	if dups := w.checkDelivered(t, counts); dups[duo.Auth]+dups[duo.Admin]+dups[duo.Offline]+dups[duo.Telephony] != 0 {
		t.Fatalf("duplicates without any crash: %v", dups)
	}
}

// TestCorruptCursorRefusesToStart: a damaged cursor file, or one without a
// position, stops the run with the file and the reset command, and
// nothing is published.
func TestCorruptCursorRefusesToStart(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"garbage", `{"version":1,"account":"`},
		{"no position", `{"version":1,"account":"%s","log":"auth","updated":"2026-11-20T00:00:00Z","cursor":{}}`},
		{"seconds in a millisecond field", `{"version":1,"account":"%s","log":"auth","updated":"2026-11-20T00:00:00Z","cursor":{"mintime_ms":1763600000}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 100})
			cfg := w.config(t, "logs: [auth]")
			store, err := checkpoint.Open(w.stateDir)
			if err != nil {
				t.Fatal(err)
			}
			content := tc.content
			if strings.Contains(content, "%s") {
				content = fmt.Sprintf(content, w.duo.Host)
			}
			os.WriteFile(store.Path(checkpoint.Key{Account: w.duo.Host, Log: "auth"}), []byte(content), 0o600)
			store.Close()
			var stderr bytes.Buffer
			code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, &bytes.Buffer{}, &stderr, nil})
			if code != exitFailure || !strings.Contains(stderr.String(), ".auth.json") || !strings.Contains(stderr.String(), "checkpoint reset --logs auth") {
				t.Fatalf("exit %d, stderr: %s", code, stderr.String())
			}
			if _, recs := w.consumed(t); len(recs) != 0 {
				t.Fatalf("%d messages published despite the corrupt cursor", len(recs))
			}
		})
	}
}

// TestSecondDaemonRefused: two connectors on one state directory: the
// second exits with the first one's PID.
func TestSecondDaemonRefused(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 10})
	cfg := w.config(t, "logs: [auth]")
	first := exec.Command(binary(t), "run", "--config", cfg)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(w.stateDir, ".lock")); return err == nil })
	time.Sleep(500 * time.Millisecond)
	out, err := exec.Command(binary(t), "run", "--once", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("process %d", first.Process.Pid)) {
		t.Fatalf("second connector: %v: %s", err, out)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe to write from a subprocess pipe while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBackfill: a backfill over a closed range publishes exactly that
// range, keeps its own cursors (the daemon's are untouched), stamps
// messages with the time of publishing, and a rerun after an interruption
// continues instead of starting over.
func TestBackfill(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 6000, duo.Admin: 3000})
	w.rps = 20
	cfg := w.config(t, "logs: [auth, admin]")
	since, until := time.Now().Add(-15*time.Hour).Truncate(time.Second), time.Now().Add(-5*time.Hour).Truncate(time.Second)
	args := []string{"backfill", "--config", cfg, "--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339)}

	// Interrupt the first attempt, as a kill would, once it has saved a
	// cursor (before that, starting over is what it should do).
	cmd := exec.Command(binary(t), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if saved, _ := filepath.Glob(filepath.Join(w.stateDir, "backfill", "*", "*.json")); len(saved) > 0 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	_, partial := w.consumed(t)

	var stderr bytes.Buffer
	start := time.Now()
	if code := dispatch(args, env{nil, &bytes.Buffer{}, &stderr, nil}); code != 0 {
		t.Fatalf("backfill exited %d: %s", code, stderr.String())
	}
	counts, recs := w.consumed(t)
	inRange := map[duo.LogType]int{}
	for lt, rs := range w.records {
		got := counts["duo."+lt.EventType()]
		for _, r := range rs {
			in := !r.Time.Before(since) && !r.Time.After(until)
			if lt == duo.Admin { // v1: whole seconds
				in = r.Time.Unix() >= since.Unix() && r.Time.Unix() <= until.Unix()
			}
			if in {
				inRange[lt]++
				if got[eventID(r)] == 0 {
					t.Fatalf("%s record at %s in range not published", lt, r.Time)
				}
			} else if got[eventID(r)] != 0 {
				t.Fatalf("%s record at %s outside the range published", lt, r.Time)
			}
		}
	}
	for _, r := range recs {
		if r.Timestamp.Before(start.Add(-time.Minute)) && r.Timestamp.Before(since) {
			t.Fatalf("message stamped %s: backfills stamp the time of publishing", r.Timestamp)
		}
	}
	if len(recs)-len(partial) >= inRange[duo.Auth]+inRange[duo.Admin] && len(partial) > 0 {
		t.Fatalf("the rerun republished everything (%d) instead of continuing after %d", len(recs)-len(partial), len(partial))
	}
	entries, _ := filepath.Glob(filepath.Join(w.stateDir, "*.json"))
	if len(entries) != 0 {
		t.Fatalf("backfill wrote daemon cursors: %v", entries)
	}
	t.Logf("backfill: %d in range, %d published by the interrupted attempt, %d messages in all", inRange[duo.Auth]+inRange[duo.Admin], len(partial), len(recs))
}

// TestCheckpointCommands: show lists the cursors a run saved, in text and
// JSON; reset needs --yes, then deletes them.
func TestCheckpointCommands(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 1500, duo.Offline: 200})
	cfg := w.config(t, "logs: [auth, offline]")
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := dispatch(args, env{nil, &out, &errb, nil})
		return out.String(), errb.String(), code
	}
	if _, errOut, code := run("run", "--once", "--config", cfg); code != 0 {
		t.Fatal(errOut)
	}
	out, _, code := run("checkpoint", "show", "--config", cfg)
	if code != 0 || !strings.Contains(out, "auth") || !strings.Contains(out, "offline") || !strings.Contains(out, "DELIVERED UNTIL") {
		t.Fatalf("show: %d %s", code, out)
	}
	out, _, _ = run("checkpoint", "show", "--json", "--logs", "auth", "--config", cfg)
	var shown struct {
		Cursors []struct {
			Log       string    `json:"log"`
			Delivered time.Time `json:"delivered_until"`
		}
		Backfills []json.RawMessage
	}
	// One shape, with --backfills or without (issue 21, item 5).
	err := json.Unmarshal([]byte(out), &shown)
	rows := shown.Cursors
	if err != nil || len(rows) != 1 || rows[0].Log != "auth" || time.Since(rows[0].Delivered) > 10*time.Minute || shown.Backfills == nil {
		t.Fatalf("show --json: %v %s", err, out)
	}
	if _, errOut, code := run("checkpoint", "reset", "--logs", "auth", "--config", cfg); code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Fatalf("reset without --yes: %d %s", code, errOut)
	}
	if out, errOut, code := run("checkpoint", "reset", "--logs", "auth", "--yes", "--config", cfg); code != 0 || !strings.Contains(out, "reset") {
		t.Fatalf("reset: %d %s %s", code, out, errOut)
	}
	out, _, _ = run("checkpoint", "show", "--json", "--config", cfg)
	if strings.Contains(out, `"log": "auth"`) || !strings.Contains(out, `"log": "offline"`) {
		t.Fatalf("after reset: %s", out)
	}
}

// TestSecretsNeverLogged runs the connector at debug level, through
// failures (429s, then a rotated secret), against a broker that requires
// SASL, and greps everything it printed for the secret key, the SASL
// password and the Authorization header.
func TestSecretsNeverLogged(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 2000})
	const saslPassword = "sasl-pw-must-not-leak-0123"
	sasl, err := kafkatest.Start(1, topics, "", kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "connector", saslPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer sasl.Stop()
	w.kafka.Stop()
	w.kafka = sasl
	cfg := w.config(t, "logs: [auth]\nlog: {level: debug}\n")
	w.duo.Inject(duotest.Fault{Status: 429, Count: 3})
	var stdout, stderr bytes.Buffer
	environ := []string{"DUO_CONNECTOR_KAFKA_SASL_PASSWORD=" + saslPassword, "DUO_CONNECTOR_KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "DUO_CONNECTOR_KAFKA_SASL_USERNAME=connector"}
	if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, &stdout, &stderr, environ}); code != 0 {
		t.Fatalf("run --once exited %d: %s", code, stderr.String())
	}
	w.duo.RotateSecret("rotated")
	dispatch([]string{"run", "--once", "--config", cfg}, env{nil, &stdout, &stderr, environ})
	all := stdout.String() + stderr.String()
	if !strings.Contains(all, "40103") || !strings.Contains(all, "retrying") {
		t.Fatalf("the failures were not reported: %s", all)
	}
	for _, secret := range []string{w.duo.SKey, saslPassword, "Basic "} {
		if strings.Contains(all, secret) {
			t.Fatalf("output contains a secret (%q):\n%s", secret, all)
		}
	}
}

// TestDaemonOperations runs the daemon binary as systemd would: it
// notifies READY=1, sends watchdog keep-alives, serves /metrics, /healthz
// and /readyz (scraped here), and on SIGTERM notifies STOPPING=1 and exits 0.
func TestDaemonOperations(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 3000, duo.Admin: 500})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := w.config(t, "logs: [auth, admin]\nhttp: {listen: \""+addr+"\"}\n")

	sock := filepath.Join(t.TempDir(), "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	states := make(chan string, 100)
	go func() {
		buf := make([]byte, 1024)
		for {
			n, _, err := notify.ReadFromUnix(buf)
			if err != nil {
				return
			}
			states <- string(buf[:n])
		}
	}()
	expect := func(want string) {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case s := <-states:
				if s == want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s notification", want)
			}
		}
	}

	cmd := exec.Command(binary(t), "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=200000", "JOURNAL_STREAM=8:12345")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	expect("READY=1")
	expect("WATCHDOG=1")

	get := func(path string) (int, string) { return httpGet(addr, path) }
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	waitFor(t, func() bool { code, _ := get("/readyz"); return code == 200 })
	waitFor(t, func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `duo_connector_records_published_total{log="auth"} 3000`)
	})
	_, body := get("/metrics")
	for _, want := range []string{
		`duo_connector_records_read_total{log="admin"} 500`,
		`duo_connector_api_requests_total{endpoint="/admin/v2/logs/authentication",status="200"}`,
		`duo_connector_kafka_write_duration_seconds_bucket`,
		`duo_connector_cursor_lag_seconds{account="` + w.duo.Host + `",log="auth"}`,
		`duo_connector_last_successful_poll_timestamp_seconds{account="` + w.duo.Host + `",log="admin"}`,
		`duo_connector_records_failed_normalize_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// What the alert rules and the dashboard use is on the running
	// connector's /metrics (cluster mode's gauges but in cluster mode).
	for _, name := range monitoredMetrics(t) {
		if !strings.HasPrefix(name, "duo_connector_cluster_") && !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics of the running connector lacks %s, which the alerts or the dashboard use", name)
		}
	}
	// SIGHUP does not kill it: it says it is ignored and how to reload.
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "SIGHUP ignored") })
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("not alive after SIGHUP: %s", stderr.String())
	}
	// The broker goes away: not ready.
	w.kafka.Stop()
	waitFor(t, func() bool { code, _ := get("/readyz"); return code == 503 })

	cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("no exit after SIGTERM")
	}
	if strings.Contains(stderr.String(), "time=") {
		t.Errorf("under journald (JOURNAL_STREAM) log lines must not carry their own time:\n%s", stderr.String())
	}
}

// TestConfigCheck runs config check against the fake Duo and kfake: good
// settings pass; a wrong secret, a missing permission and a missing topic
// each fail with the fix.
func TestConfigCheck(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 10})
	check := func(cfg string) (string, int) {
		var out, errb bytes.Buffer
		code := dispatch([]string{"config", "check", "--config", cfg}, env{nil, &out, &errb, nil})
		return out.String() + errb.String(), code
	}
	good := w.config(t, "logs: [auth, admin]")
	if out, code := check(good); code != 0 || !strings.Contains(out, "duo: ok") || !strings.Contains(out, "kafka: ok") {
		t.Fatalf("good configuration: %d\n%s", code, out)
	}

	os.WriteFile(w.skeyFile, []byte("not-the-secret"), 0o600)
	out, code := check(good)
	if code != exitFailure || !strings.Contains(out, "duo: FAILED") || !strings.Contains(out, "40103") || !strings.Contains(out, "duo.skey") {
		t.Fatalf("wrong secret: %d\n%s", code, out)
	}
	if strings.Contains(out, "not-the-secret") {
		t.Fatalf("the secret was printed:\n%s", out)
	}
	os.WriteFile(w.skeyFile, []byte(w.duo.SKey), 0o600)

	w.duo.SetReadLogPermission(false)
	if out, code := check(good); code != exitFailure || !strings.Contains(out, "40301") || !strings.Contains(out, "Grant read log") {
		t.Fatalf("missing permission: %d\n%s", code, out)
	}
	w.duo.SetReadLogPermission(true)

	// Trust Monitor not licensed: that log is reported, with what is
	// missing; the others are ok. The connector skips such a log for the
	// account: it is not a failure (issue 22).
	withTM := w.config(t, "logs: [auth, admin, trust_monitor]")
	w.duo.SetLicensed(duo.PathTrustMonitor, false)
	out, code = check(withTM)
	if code != 0 || !strings.Contains(out, "log auth: ok") || !strings.Contains(out, "log admin: ok") ||
		!strings.Contains(out, "log trust_monitor: NOT AVAILABLE") || !strings.Contains(out, "Premier") || !strings.Contains(out, "not a failure") {
		t.Fatalf("Trust Monitor not licensed: %d\n%s", code, out)
	}
	w.duo.SetLicensed(duo.PathTrustMonitor, true)
	if out, code := check(withTM); code != 0 || !strings.Contains(out, "log trust_monitor: ok") {
		t.Fatalf("Trust Monitor licensed: %d\n%s", code, out)
	}

	missing := strings.Replace(good, ".yaml", "-missing.yaml", 1)
	data, _ := os.ReadFile(good)
	os.WriteFile(missing, []byte(strings.Replace(string(data), "duo.{dataset}", "no-such-topic", 1)), 0o600)
	if out, code := check(missing); code != exitFailure || !strings.Contains(out, "kafka: FAILED") || !strings.Contains(out, "does not exist") {
		t.Fatalf("missing topic: %d\n%s", code, out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("duo: {api_host: x}\n"), 0o600)
	if out, code := check(bad); code != exitUsage || !strings.Contains(out, "duo.ikey") {
		t.Fatalf("invalid configuration: %d\n%s", code, out)
	}
}

// monitoredMetrics are the metric names the alert rules and the Grafana
// dashboard use.
func monitoredMetrics(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, f := range []string{"../../configs/prometheus/duo-connector.rules.yml", "../../configs/grafana/duo-connector.json"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`\bduo_connector_[a-z_]+`).FindAllString(string(data), -1) {
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d metric names in the rules and the dashboard", len(out))
	}
	return out
}

var updateReadme = flag.Bool("update-readme", false, "rewrite the README's configuration table from config.Keys")

// TestConfigKeysListsEveryKey: config keys prints every key with its
// environment variable and default; the README's configuration table is
// exactly config.Keys (path, variable, default, meaning): one source, so
// neither can drift. go test -run TestConfigKeys -update-readme rewrites it.
func TestConfigKeysListsEveryKey(t *testing.T) {
	var out bytes.Buffer
	if code := dispatch([]string{"config", "keys"}, env{nil, &out, &bytes.Buffer{}, nil}); code != 0 {
		t.Fatal(code)
	}
	var table strings.Builder
	table.WriteString("| key | environment variable | default | meaning |\n|---|---|---|---|\n")
	for _, k := range config.Keys() {
		if !strings.Contains(out.String(), k.Path) || !strings.Contains(out.String(), k.Env) {
			t.Errorf("config keys lacks %s", k.Path)
		}
		if k.Doc == "" {
			t.Errorf("key %s has no documentation (connector/config/docs.go)", k.Path)
		}
		def := ""
		if k.Default != "" {
			def = "`" + k.Default + "`"
		}
		fmt.Fprintf(&table, "| `%s` | `%s` | %s | %s |\n", k.Path, k.Env, def, k.Doc)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(readme, []byte("| key | environment variable | default | meaning |"))
	end := start + bytes.Index(readme[start:], []byte("\n\n")) + 1
	if start < 0 || end <= start {
		t.Fatal("README has no configuration table")
	}
	if *updateReadme {
		updated := append(append(append([]byte(nil), readme[:start]...), table.String()...), readme[end:]...)
		if err := os.WriteFile("../../README.md", updated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := string(readme[start:end]); got != table.String() {
		t.Errorf("the README's configuration table differs from config.Keys; rewrite it with go test ./cmd/duo-connector -run TestConfigKeys -update-readme\nwant:\n%s", table.String())
	}
}

// TestKcatReadsBack cross-checks with an independent Kafka client,
// Debian's kcat (librdkafka): what the connector published is there, keys
// and values intact.
func TestKcatReadsBack(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat is not installed (apt-get install kcat)")
		}
		t.Skip("kcat is not installed (apt-get install kcat); skipping the cross-check")
	}
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 1500})
	var stderr bytes.Buffer
	if code := dispatch([]string{"run", "--once", "--config", w.config(t, "logs: [auth]")}, env{nil, &bytes.Buffer{}, &stderr, nil}); code != 0 {
		t.Fatalf("run --once: %d %s", code, stderr.String())
	}
	out, err := exec.Command(kcat, "-C", "-b", w.kafka.Addr, "-t", "duo.auth_log", "-o", "beginning", "-e", "-q",
		"-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	want := map[string]bool{}
	for _, r := range w.records[duo.Auth] {
		want[r.ID] = true
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1500 {
		t.Fatalf("kcat read %d messages, want 1500", len(lines))
	}
	for _, l := range lines {
		key, value, _ := strings.Cut(l, "\t")
		if !want[key] || !json.Valid([]byte(value)) || !strings.Contains(value, `"dataset":"auth_log"`) {
			t.Fatalf("kcat read an unexpected message: %.200s", l)
		}
		delete(want, key)
	}
}

// TestBackfillRelativeRangeResumes: a backfill given as durations ago
// ("--since 15h --until 5h") is SIGKILLed part-way; the identical command,
// rerun seconds later (when "15h ago" is another instant), continues the
// same backfill over the range it began with: nothing lost, at most a page
// per log repeated. Run again, a finished backfill does nothing; --again
// repeats it; checkpoint show --backfills lists it.
func TestBackfillRelativeRangeResumes(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 30000, duo.Admin: 12000})
	w.rps = 4
	cfg := w.config(t, "logs: [auth, admin]")
	args := []string{"backfill", "--config", cfg, "--since", "15h", "--until", "5h"}

	t0 := time.Now()
	cmd := exec.Command(binary(t), args...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has delivered more than a page of each log.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		counts, _ := w.consumed(t)
		if len(counts["duo.auth_log"]) > 2*duolog.PageSize && len(counts["duo.admin_log"]) > 2*duolog.PageSize {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first attempt delivered too little: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	_, partial := w.consumed(t)

	time.Sleep(1100 * time.Millisecond) // "15h ago" is now another second
	if out, err := exec.Command(binary(t), args...).CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	counts, recs := w.consumed(t)
	// The range as the backfill resolved it when it began (a little after
	// t0): a second inside it was surely read, a second outside surely not.
	var manifest checkpoint.Backfill
	raw, err := os.ReadFile(filepath.Join(w.stateDir, "backfill", "15h_ago-5h_ago", "backfill.manifest"))
	if err != nil || json.Unmarshal(raw, &manifest) != nil {
		t.Fatalf("backfill description: %v %s", err, raw)
	}
	if manifest.Since.Before(t0.Add(-15*time.Hour-time.Second)) || manifest.Until.Before(t0.Add(-5*time.Hour-time.Second)) {
		t.Fatalf("the backfill began with %s..%s, not 15h..5h before %s", manifest.Since, manifest.Until, t0)
	}
	from, to := manifest.Since.Add(time.Second), manifest.Until.Add(-time.Second)
	for lt, rs := range w.records {
		got := counts["duo."+lt.EventType()]
		dups := 0
		for _, n := range got {
			dups += n - 1
		}
		if dups > duolog.PageSize {
			t.Errorf("%s: %d duplicates after one kill: the rerun did not continue the backfill", lt, dups)
		}
		for _, r := range rs {
			switch {
			case !r.Time.Before(from) && !r.Time.After(to) && got[eventID(r)] == 0:
				t.Fatalf("%s record at %s in the range was not published", lt, r.Time)
			case (r.Time.Before(manifest.Since.Add(-time.Second)) || r.Time.After(manifest.Until.Add(time.Second))) && got[eventID(r)] != 0:
				t.Fatalf("%s record at %s outside the range was published", lt, r.Time)
			}
		}
	}
	t.Logf("%d messages published before the kill, %d in all", len(partial), len(recs))

	// Finished: the same command does nothing.
	out, err := exec.Command(binary(t), args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "already finished") || !strings.Contains(string(out), "--again") {
		t.Fatalf("rerun of a finished backfill: %v\n%s", err, out)
	}
	if _, again := w.consumed(t); len(again) != len(recs) {
		t.Fatalf("a finished backfill published %d more messages", len(again)-len(recs))
	}
	var show bytes.Buffer
	if code := dispatch([]string{"checkpoint", "show", "--backfills", "--config", cfg}, env{nil, &show, io.Discard, nil}); code != 0 {
		t.Fatalf("checkpoint show --backfills exited %d: %s", code, show.String())
	}
	if s := show.String(); !strings.Contains(s, "15h_ago-5h_ago") || !strings.Contains(s, "--since 15h --until 5h") || !strings.Contains(s, "finished") {
		t.Fatalf("checkpoint show --backfills:\n%s", s)
	}
	if out, err := exec.Command(binary(t), append(args, "--again")...).CombinedOutput(); err != nil {
		t.Fatalf("--again: %v\n%s", err, out)
	}
	if _, again := w.consumed(t); len(again) <= len(recs) {
		t.Fatal("--again published nothing")
	}
}

// TestURLPasswordsNeverPrinted: a proxy or broker address carrying a
// password, malformed or unreachable, is reported without the password.
func TestURLPasswordsNeverPrinted(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 10})
	const pw = "url-pw-must-not-leak-0123"
	cases := []struct{ name, yaml string }{
		{"malformed proxy", "http://user:" + pw + "@proxy.example:port"},
		{"unparsable proxy", "http://us er:" + pw + "@proxy.example"},
		{"unreachable proxy", "http://user:" + pw + "@127.0.0.1:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := w.config(t, "logs: [auth]\n")
			data, _ := os.ReadFile(cfg)
			data = []byte(strings.Replace(string(data), "duo:\n", "duo:\n  proxy: \""+tc.yaml+"\"\n", 1))
			data = []byte(strings.Replace(string(data), "max_attempts: 50", "max_attempts: 2", 1))
			os.WriteFile(cfg, data, 0o600)
			var out, errb bytes.Buffer
			dispatch([]string{"config", "check", "--config", cfg}, env{nil, &out, &errb, nil})
			dispatch([]string{"run", "--once", "--config", cfg}, env{nil, &out, &errb, nil})
			all := out.String() + errb.String()
			if strings.Contains(all, pw) {
				t.Fatalf("the password was printed:\n%s", all)
			}
			if !strings.Contains(all, "proxy") {
				t.Fatalf("the proxy problem was not reported:\n%s", all)
			}
		})
	}
	cfg := w.config(t, "logs: [auth]\n")
	data, _ := os.ReadFile(cfg)
	data = []byte(strings.Replace(string(data), "brokers: [", "brokers: [\"user:"+pw+"@kafka:9092\", ", 1))
	os.WriteFile(cfg, data, 0o600)
	var errb bytes.Buffer
	dispatch([]string{"run", "--once", "--config", cfg}, env{nil, io.Discard, &errb, nil})
	if strings.Contains(errb.String(), pw) || !strings.Contains(errb.String(), "kafka.brokers") {
		t.Fatalf("broker with a password:\n%s", errb.String())
	}
}

// TestBadFlagsAreUsageErrors: flags are validated like the configuration:
// each mistake is exit 2 with a message that says what to give instead.
func TestBadFlagsAreUsageErrors(t *testing.T) {
	w := newWorld(t, "", nil)
	cfg := w.config(t, "logs: [auth]\n")
	if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, io.Discard, io.Discard, nil}); code != 0 {
		t.Fatalf("run --once: exit %d", code) // the state directory exists
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--once", "--logs", "auth,auth"}, "auth is listed twice"},
		{[]string{"backfill", "--since", "2d", "--logs", "admin,auth,admin"}, "admin is listed twice"},
		{[]string{"backfill"}, "--since is required"},
		{[]string{"backfill", "--since", "200d", "--until", "199d"}, "before Duo's 180-day horizon"},
		{[]string{"backfill", "--since", "yesterday"}, "1d12h"},
		{[]string{"checkpoint", "show", "--logs", "auth,auth"}, "auth is listed twice"},
		// Issue 21, items 3 and 4.
		{[]string{"backfill", "--since", "1d", "--since", "2d"}, "--since is given twice"},
		{[]string{"run", "--once", "--logs=auth", "--logs", "admin"}, "--logs is given twice"},
		{[]string{"backfill", "--since", "2d", "--accounts", "nobody"}, `no account is named \"nobody\"`},
		{[]string{"checkpoint", "show", "--account", "nobody"}, `no account "nobody" is configured or has cursors`},
		{[]string{"checkpoint", "reset", "--backfill", "nosuch", "--yes"}, `no backfill named "nosuch"`},
	} {
		var errb bytes.Buffer
		code := dispatch(append(tc.args, "--config", cfg), env{nil, io.Discard, &errb, nil})
		if code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q: %s", tc.args, code, tc.want, errb.String())
		}
	}
	// Combined durations and dates are accepted.
	for _, since := range []string{"1d12h", time.Now().AddDate(0, 0, -2).UTC().Format(time.DateOnly)} {
		var errb bytes.Buffer
		if code := dispatch([]string{"backfill", "--since", since, "--until", "1d", "--logs", "auth", "--config", cfg}, env{nil, io.Discard, &errb, nil}); code != 0 {
			t.Errorf("backfill --since %s: exit %d: %s", since, code, errb.String())
		}
	}
}

// TestStateDirCheckedUpFront: a state_dir that cannot work is reported
// before anything runs (exit 2 from run, a failed line in config check),
// and checkpoint show never creates a mistyped one.
func TestStateDirCheckedUpFront(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 10})
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o600)
	for _, dir := range []string{file, filepath.Join(file, "sub")} {
		w.stateDir = dir
		cfg := w.config(t, "logs: [auth]\n")
		var out, errb bytes.Buffer
		if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, &out, &errb, nil}); code != exitUsage || !strings.Contains(errb.String(), "state_dir") {
			t.Errorf("run with state_dir %s: exit %d: %s", dir, code, errb.String())
		}
		out.Reset()
		if code := dispatch([]string{"config", "check", "--config", cfg}, env{nil, &out, io.Discard, nil}); code != exitFailure || !strings.Contains(out.String(), "state_dir: FAILED") {
			t.Errorf("config check with state_dir %s: exit %d: %s", dir, code, out.String())
		}
	}
	w.stateDir = filepath.Join(t.TempDir(), "mistyped")
	cfg := w.config(t, "logs: [auth]\n")
	var errb bytes.Buffer
	if code := dispatch([]string{"checkpoint", "show", "--config", cfg}, env{nil, io.Discard, &errb, nil}); code == 0 || !strings.Contains(errb.String(), "does not exist") {
		t.Errorf("checkpoint show on a missing state_dir: exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(w.stateDir); err == nil {
		t.Error("checkpoint show created the state directory")
	}
}

// TestLogLines: in JSON logs every attribute appears once per line, and
// durations are Go duration strings, as in text logs.
func TestLogLines(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 1500, duo.Admin: 300})
	cfg := w.config(t, "logs: [auth, admin]\nlog: {format: json, level: debug}\n")
	w.duo.Inject(duotest.Fault{Status: 500})
	var errb bytes.Buffer
	if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, io.Discard, &errb, nil}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	durations := 0
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("not a JSON object: %s", line)
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, _ := dec.Token()
			key := tok.(string)
			if seen[key] {
				t.Errorf("%q twice in: %s", key, line)
			}
			seen[key] = true
			var v json.RawMessage
			dec.Decode(&v)
			if key == "duration" || key == "retry_in" {
				durations++
				var s string
				if json.Unmarshal(v, &s) != nil {
					t.Errorf("%s is %s, not a duration string: %s", key, v, line)
				} else if _, err := time.ParseDuration(s); err != nil {
					t.Errorf("%s %q: %v", key, s, err)
				}
			}
		}
	}
	if durations == 0 {
		t.Fatalf("no duration attributes logged:\n%s", errb.String())
	}
}

// TestOneShotFailsFastOnConfigurationErrors: run --once against a broker
// address nothing listens on, or a Duo host that does not resolve, fails
// at once with the fix instead of retrying for minutes.
func TestOneShotFailsFastOnConfigurationErrors(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 10})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"no broker listening", w.kafka.Addr, closed, "nothing listens at kafka.brokers"},
		{"duo host does not resolve", w.duo.Host, "api-no-such-host.invalid", "duo.api_host does not resolve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := w.config(t, "logs: [auth]\n")
			data, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, []byte(strings.Replace(string(data), tc.from, tc.to, 1)), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, binary(t), "run", "--once", "--config", cfg).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("still running after a minute:\n%s", out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitFailure || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %v, want 1 with %q:\n%s", err, tc.want, out)
			}
		})
	}
}

// TestDamagedBackfillCursorHint: a garbage cursor file in a backfill's
// directory stops that backfill with a hint naming exactly that cursor;
// following the hint resets it and nothing else (the daemon's cursor of
// the same log stays), and the backfill then runs. checkpoint show
// --backfills measures a backfill's "behind" from its end, not from now.
func TestDamagedBackfillCursorHint(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 3000})
	cfg := w.config(t, "logs: [auth]\n")
	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := dispatch(append(args, "--config", cfg), env{nil, &out, &out, nil})
		return out.String(), code
	}
	if out, code := run("run", "--once"); code != 0 {
		t.Fatalf("daemon run: %s", out)
	}
	daemonCursor := filepath.Join(w.stateDir, strings.ReplaceAll(w.duo.Host, ":", "_")+".auth.json")
	before, err := os.ReadFile(daemonCursor)
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-15 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	until := time.Now().Add(-10 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	if out, code := run("backfill", "--since", since, "--until", until); code != 0 {
		t.Fatalf("backfill: %s", out)
	}
	bfDirs, _ := filepath.Glob(filepath.Join(w.stateDir, "backfill", "*"))
	if len(bfDirs) != 1 {
		t.Fatalf("backfill directories: %v", bfDirs)
	}
	name := filepath.Base(bfDirs[0])

	// behind is measured from the backfill's end: finished, it is 0s.
	out, _ := run("checkpoint", "show", "--backfills", "--json")
	var shown struct {
		Cursors []struct {
			Scope  string `json:"scope"`
			Behind string `json:"lag"`
		} `json:"cursors"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, c := range shown.Cursors {
		if c.Scope == name && c.Behind != "0s" {
			t.Fatalf("a finished backfill's cursor is %s behind (measured from now?): %s", c.Behind, out)
		}
	}

	// Make it unfinished again (as if interrupted), and damage its cursor.
	manifest := filepath.Join(bfDirs[0], "backfill.manifest")
	raw, _ := os.ReadFile(manifest)
	var m map[string]any
	json.Unmarshal(raw, &m)
	delete(m, "finished")
	data, _ := json.Marshal(m)
	os.WriteFile(manifest, data, 0o600)
	bfCursor, _ := filepath.Glob(filepath.Join(bfDirs[0], "*.auth.json"))
	os.WriteFile(bfCursor[0], []byte("garbage"), 0o600)

	out, code := run("backfill", "--since", since, "--until", until)
	hint := "checkpoint reset --backfill " + name + " --logs auth --yes"
	if code != exitFailure || !strings.Contains(out, hint) || !strings.Contains(out, bfCursor[0]) {
		t.Fatalf("damaged backfill cursor: exit %d, want 1 naming %q and the file:\n%s", code, hint, out)
	}
	// Follow the hint.
	if out, code := run("checkpoint", "reset", "--backfill", name, "--logs", "auth", "--yes"); code != 0 {
		t.Fatalf("reset: %s", out)
	}
	after, _ := os.ReadFile(daemonCursor)
	if !bytes.Equal(before, after) {
		t.Fatal("resetting the backfill's cursor touched the daemon's")
	}
	if out, code := run("backfill", "--since", since, "--until", until); code != 0 {
		t.Fatalf("backfill after the reset: %s", out)
	}
}

// TestActivityAndTrustMonitor: the two opt-in logs, through 429s and 5xx,
// arrive in Kafka once each, keyed by activity_id and sekey, as the
// normalizer maps them, on their own topics; a restart finds nothing new.
func TestActivityAndTrustMonitor(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Activity: 4000, duo.TrustMonitor: 900})
	cfg := w.config(t, "logs: [activity, trust_monitor]\nnormalize: {mapping: v2}\n")
	w.duo.Inject(duotest.Fault{Path: duo.PathTrustMonitor, Status: 429, Count: 2}, duotest.Fault{Path: duo.PathActivity, Status: 503})
	var stderr bytes.Buffer
	if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, io.Discard, &stderr, nil}); code != 0 {
		t.Fatalf("run --once exited %d: %s", code, stderr.String())
	}
	counts, recs := w.consumed(t)
	if dups := w.checkDelivered(t, counts); len(recs) != 4900 {
		t.Fatalf("%d messages for 4900 records (duplicates %v)", len(recs), dups)
	}
	byID := w.documents(normalize.V2)
	for _, r := range recs {
		if !bytes.Equal(r.Value, byID[string(r.Key)]) {
			t.Fatalf("document for %s differs from the normalizer's:\n got %s\nwant %s", r.Key, r.Value, byID[string(r.Key)])
		}
		want := map[string]string{"duo.activity_log": "activity_log", "duo.trust_monitor_event": "trust_monitor_event"}[r.Topic]
		if want == "" || string(r.Headers[0].Value) != want || !bytes.Contains(r.Value, []byte(`"dataset":"`+want+`"`)) {
			t.Fatalf("message on %s with eventtype %s: %s", r.Topic, r.Headers[0].Value, r.Value)
		}
	}
	if code := dispatch([]string{"run", "--once", "--config", cfg}, env{nil, io.Discard, &stderr, nil}); code != 0 {
		t.Fatalf("second run exited %d: %s", code, stderr.String())
	}
	if _, again := w.consumed(t); len(again) != len(recs) {
		t.Fatalf("second run published %d more messages", len(again)-len(recs))
	}
}

// TestHTTPListenFlag: an http.listen already taken (the daemon's, when a
// backfill runs beside it) is a configuration error, exit 2, naming the
// key; --http-listen off or another address runs without it (issue 21,
// items 4 and 6).
func TestHTTPListenFlag(t *testing.T) {
	w := newWorld(t, "", map[duo.LogType]int{duo.Auth: 20})
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := w.config(t, fmt.Sprintf("logs: [auth]\nhttp:\n  listen: %s\n", taken.Addr()))
	var errb bytes.Buffer
	if code := dispatch([]string{"backfill", "--since", "1d", "--config", cfg}, env{nil, io.Discard, &errb, nil}); code != exitUsage || !strings.Contains(errb.String(), "http.listen") {
		t.Fatalf("listener taken: exit %d, want 2 naming http.listen: %s", code, errb.String())
	}
	for _, listen := range []string{"off", "127.0.0.1:0"} {
		errb.Reset()
		if code := dispatch([]string{"backfill", "--since", "1d", "--again", "--http-listen", listen, "--config", cfg}, env{nil, io.Discard, &errb, nil}); code != exitOK {
			t.Errorf("--http-listen %s: exit %d: %s", listen, code, errb.String())
		}
	}
	errb.Reset()
	if code := dispatch([]string{"run", "--once", "--http-listen", "off", "--config", cfg}, env{nil, io.Discard, &errb, nil}); code != exitOK {
		t.Errorf("run --once --http-listen off: exit %d: %s", code, errb.String())
	}
}

// TestCommandLineHints: an unknown subcommand says so, a configuration
// file given without --config is pointed at it, and config keys prints
// each key's meaning (issue 21, item 17).
func TestCommandLineHints(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "chek"}, `unknown subcommand "chek"`},
		{[]string{"checkpoint", "list"}, `unknown subcommand "list"`},
		{[]string{"run", "duo-connector.yaml"}, "give the configuration file with --config duo-connector.yaml"},
	} {
		var errb bytes.Buffer
		if code := dispatch(tc.args, env{nil, io.Discard, &errb, nil}); code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q: %s", tc.args, code, tc.want, errb.String())
		}
	}
	var out bytes.Buffer
	if code := dispatch([]string{"config", "keys"}, env{nil, &out, io.Discard, nil}); code != 0 || !strings.Contains(out.String(), "MEANING") ||
		!strings.Contains(out.String(), "Secret key. Prefer skey_file") {
		t.Errorf("config keys: exit %d:\n%s", code, out.String())
	}
}
