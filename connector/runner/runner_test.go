package runner_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/duo-connector/duo-connector/connector/app"
	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/internal/redact"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
	"github.com/duo-connector/duo-connector/connector/metrics"
	"github.com/duo-connector/duo-connector/connector/runner"
)

func setup(t *testing.T, schedule string, recs int) (*duotest.Server, config.Config) {
	t.Helper()
	srv := duotest.New(t)
	now := time.Now()
	srv.Add(duotest.NewGenerator(1).Fill(duo.Auth, now.Add(-5*time.Hour), now.Add(-time.Hour), recs)...)
	b := kafkatest.NewBroker(t, 1, "duo")
	cfg := config.Default()
	cfg.Duo.APIHost, cfg.Duo.IKey, cfg.Duo.SKey, cfg.Duo.CAFile = srv.Host, srv.IKey, redact.Secret(srv.SKey), srv.CAFile
	cfg.Duo.RequestsPerSecond = 1000
	cfg.Logs = []string{"auth"}
	cfg.StateDir = t.TempDir()
	cfg.Schedule = schedule
	cfg.Jitter = 0
	cfg.Kafka.Brokers = []string{b.Addr}
	cfg.Kafka.Topic = "duo"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return srv, cfg
}

// daemon is a Runner.Run in the background.
type daemon struct {
	r      *runner.Runner
	m      *metrics.Metrics
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// stop cancels the daemon and returns Run's result.
func (d *daemon) stop() error {
	d.cancel()
	<-d.done
	return d.err
}

// stopped reports whether Run returned by itself.
func (d *daemon) stopped() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func start(t *testing.T, cfg config.Config) *daemon {
	t.Helper()
	return startWith(t, cfg, runner.Options{})
}

func startWith(t *testing.T, cfg config.Config, opts runner.Options) *daemon {
	t.Helper()
	d := &daemon{m: metrics.New(), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	opts.Metrics = d.m
	r, err := app.NewRunner(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, opts, 0)
	d.r = r
	if err != nil {
		t.Fatal(err)
	}
	go func() { d.err = r.Run(ctx); r.Close(); close(d.done) }()
	t.Cleanup(func() { d.stop() })
	return d
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCatchUpWithinOnePoll: a log that is behind keeps paging instead of
// waiting for the next tick: 5 pages of backlog arrive in the first poll.
func TestCatchUpWithinOnePoll(t *testing.T) {
	_, cfg := setup(t, "@every 1h", 5000)
	d := start(t, cfg)
	waitFor(t, func() bool { return !d.m.Log(duo.Auth).LastSuccess.IsZero() })
	if got := d.m.Log(duo.Auth).Records; got != 5000 {
		t.Fatalf("first poll delivered %d records, want the whole backlog of 5000", got)
	}
}

// TestSkipIfRunning: with polls slower than the schedule, a log's polls
// never overlap: ticks that come while one runs are skipped.
func TestSkipIfRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("slow end-to-end test; skipped with -short")
	}
	srv, cfg := setup(t, "@every 1s", 10)
	for range 4 {
		srv.Inject(duotest.Fault{Delay: 1500 * time.Millisecond})
	}
	d := start(t, cfg)
	// Four slow polls, then quick ones: the schedule goes on.
	waitFor(t, func() bool { return len(srv.Requests()) >= 6 })
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if n := srv.MaxInFlight(); n != 1 {
		t.Fatalf("%d requests of one log were in flight at once: polls stacked", n)
	}
}

// TestDuoErrorsDoNotStopDaemon: a Duo 403 is reported and retried at the
// next tick; once the permission is granted the records flow.
func TestDuoErrorsDoNotStopDaemon(t *testing.T) {
	srv, cfg := setup(t, "@every 1s", 10)
	srv.SetReadLogPermission(false)
	d := start(t, cfg)
	waitFor(t, func() bool { return strings.Contains(d.m.Log(duo.Auth).LastError, "40301") })
	waitFor(t, func() bool { return len(srv.Requests()) >= 2 }) // a second poll
	if d.stopped() {
		t.Fatalf("daemon stopped on a Duo 403: %v", d.err)
	}
	srv.SetReadLogPermission(true)
	waitFor(t, func() bool { return d.m.Log(duo.Auth).Records == 10 })
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMissingTopicFailsItsLogOnly: a topic that does not exist fails the
// logs written there, with an error that says so, and they are tried again
// at each poll instead of stopping the daemon (issue 19, item 5).
func TestMissingTopicFailsItsLogOnly(t *testing.T) {
	srv, cfg := setup(t, "@every 1s", 10)
	cfg.Kafka.Topic = "missing-topic"
	d := start(t, cfg)
	waitFor(t, func() bool { return d.m.Log(duo.Auth).LastError != "" })
	srv.ResetRequests()
	waitFor(t, func() bool { return len(srv.Requests()) >= 2 }) // polled again
	if d.stopped() {
		t.Fatalf("Run stopped over one topic: %v", d.err)
	}
	if e := d.m.Log(duo.Auth).LastError; !strings.Contains(e, "topic missing-topic") || !strings.Contains(e, "does not exist") {
		t.Fatalf("last error %q", e)
	}
}

// TestKafkaFatalStopsDaemon: a refusal of the whole configuration (the
// principal may not write to the cluster) stops Run with an error that
// says so.
func TestKafkaFatalStopsDaemon(t *testing.T) {
	_, cfg := setup(t, "@every 1s", 10)
	b := kafkatest.NewBroker(t, 1, "duo")
	b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.ClusterAuthorizationFailed, Count: -1})
	cfg.Kafka.Brokers = []string{b.Addr}
	d := start(t, cfg)
	waitFor(t, d.stopped)
	if d.err == nil || !strings.Contains(d.err.Error(), "may not write to this cluster") {
		t.Fatalf("Run = %v", d.err)
	}
}

// TestAliveMeansProgress: the watchdog's Alive is true while the loops
// make progress (waiting for a tick included) and false while one is stuck
// in a step longer than StallAfter (here a Duo request that hangs).
func TestAliveMeansProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("slow end-to-end test; skipped with -short")
	}
	srv, cfg := setup(t, "@every 1s", 10)
	cfg.Duo.Timeout = time.Minute
	d := startWith(t, cfg, runner.Options{StallAfter: 2 * time.Second})
	waitFor(t, func() bool { return d.m.Log(duo.Auth).Records == 10 })
	time.Sleep(2500 * time.Millisecond) // idle between ticks: still alive
	if !d.r.Alive() {
		t.Fatal("not alive while idle between polls")
	}
	srv.Inject(duotest.Fault{Delay: 6 * time.Second})
	waitFor(t, func() bool { return !d.r.Alive() })
	waitFor(t, d.r.Alive) // the request came back: progress again
}

// TestUnlicensedLogDoesNotStopOthers: an account without Trust Monitor
// answers its endpoint with a refusal; the log is skipped with what is
// missing, and the other logs deliver as usual.
func TestUnlicensedLogDoesNotStopOthers(t *testing.T) {
	srv, cfg := setup(t, "@every 1s", 10)
	cfg.Logs = []string{"auth", "trust_monitor"}
	srv.SetLicensed(duo.PathTrustMonitor, false)
	d := start(t, cfg)
	waitFor(t, func() bool { return d.m.Log(duo.Auth).Records == 10 })
	waitFor(t, func() bool { return strings.Contains(d.m.Log(duo.TrustMonitor).Unavailable, "Premier") })
	if d.stopped() {
		t.Fatalf("the daemon stopped: %v", d.err)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestUnavailableLog: the activity log (a default log) refused to an
// account is said once at start and then once per remind interval, not
// at each poll; it is asked for again at the recheck interval, not at
// every tick; it makes neither the account failing nor /readyz unready,
// which says why; and once Duo grants it, it is read (issue 22).
func TestUnavailableLog(t *testing.T) {
	srv, cfg := setup(t, "@every 1s", 10)
	now := time.Now()
	srv.Add(duotest.NewGenerator(2).Fill(duo.Activity, now.Add(-3*time.Hour), now.Add(-time.Hour), 5)...)
	cfg.Logs = []string{"auth", "activity"}
	srv.SetLicensed(duo.PathActivity, false)

	var logs syncBuffer
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := app.NewRunner(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil,
		runner.Options{Metrics: m, UnavailableRecheck: 700 * time.Millisecond, UnavailableRemind: 2 * time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx); r.Close() }()

	waitFor(t, func() bool {
		return m.Log(duo.Auth).Records == 10 && m.State(cfg.Duo.APIHost, duo.Activity).Unavailable != ""
	})
	begin := time.Now()
	time.Sleep(4500 * time.Millisecond)
	elapsed := time.Since(begin)

	st := m.State(cfg.Duo.APIHost, duo.Activity)
	if !strings.Contains(st.Unavailable, "activity log") || st.LastError != "" {
		t.Errorf("activity state: unavailable %q, last error %q; want the reason as unavailable, no error", st.Unavailable, st.LastError)
	}
	var asked int
	for _, req := range srv.Requests() {
		if req.Path == duo.PathActivity {
			asked++
		}
	}
	// At most one request per recheck interval (plus the first), where
	// the schedule would make one a second... and at least one recheck.
	if limit := int(elapsed/(700*time.Millisecond)) + 2; asked > limit || asked < 2 {
		t.Errorf("activity asked for %d times in %s; want 2 to %d", asked, elapsed.Round(time.Millisecond), limit)
	}
	said := strings.Count(logs.String(), "log not available for this account")
	if said < 1 || said > int(elapsed/(2*time.Second))+2 || said >= asked {
		t.Errorf("said %d times for %d requests in %s; want once, then once per remind interval:\n%s", said, asked, elapsed, logs.String())
	}
	if strings.Contains(logs.String(), "poll failed") {
		t.Errorf("an unavailable log is logged as a failure:\n%s", logs.String())
	}

	_, exposition := get(t, m, "/metrics")
	for _, want := range []string{`duo_connector_accounts{state="failing"} 0`, `duo_connector_accounts{state="ok"} 1`,
		`duo_connector_log_unavailable{account="` + cfg.Duo.APIHost + `",log="activity"} 1`} {
		if !strings.Contains(exposition, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	code, body := get(t, m, "/readyz")
	if ready := code == http.StatusOK; !ready || !strings.Contains(body, `"unavailable"`) {
		t.Errorf("readyz: ready %v, want ready, saying the log is unavailable: %s", ready, body)
	}

	// Granted: read at the next recheck, and said.
	srv.SetLicensed(duo.PathActivity, true)
	waitFor(t, func() bool { return m.Log(duo.Activity).Records == 5 })
	waitFor(t, func() bool { return m.State(cfg.Duo.APIHost, duo.Activity).Unavailable == "" })
	waitFor(t, func() bool { return strings.Contains(logs.String(), "log available for this account now") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// get is m's answer to a GET of path.
func get(t *testing.T, m *metrics.Metrics, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler(metrics.Health{Interval: time.Minute}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

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

// TestUnavailableLogOnce: run --once skips a log the account does not
// have without failing the run.
func TestUnavailableLogOnce(t *testing.T) {
	srv, cfg := setup(t, "@every 1s", 10)
	cfg.Logs = []string{"auth", "activity"}
	srv.SetLicensed(duo.PathActivity, false)
	m := metrics.New()
	r, err := app.NewRunner(t.Context(), cfg, slog.New(slog.DiscardHandler), nil, runner.Options{Metrics: m}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Once(t.Context()); err != nil {
		t.Fatalf("Once failed for a log the account does not have: %v", err)
	}
	if m.Log(duo.Auth).Records != 10 {
		t.Errorf("auth: %d records, want 10", m.Log(duo.Auth).Records)
	}
}

// TestFlappingChildNeverRunsTwice: a child absent from one listing and back
// in the next while one of its units is mid-turn (a slow Duo) gets its
// units queued again; they must wait for the turn in progress, never run
// beside it: two turns of one unit share its reader and page buffers, and
// published its records twice (issue 19, item 6). Run it with -race.
func TestFlappingChildNeverRunsTwice(t *testing.T) {
	srv := duotest.New(t)
	srv.AddChild("DA1", "Alpha Corp")
	now := time.Now()
	recs := duotest.NewGenerator(3).Fill(duo.Auth, now.Add(-5*time.Hour), now.Add(-time.Hour), 1500)
	srv.AddForAccount("DA1", recs...)
	srv.Inject(duotest.Fault{Account: "DA1", Delay: 400 * time.Millisecond, Count: 30})
	b := kafkatest.NewBroker(t, 1, "duo")
	cfg := config.Default()
	cfg.Duo.APIHost, cfg.Duo.IKey, cfg.Duo.SKey, cfg.Duo.CAFile = srv.Host, srv.IKey, redact.Secret(srv.SKey), srv.CAFile
	cfg.Duo.RequestsPerSecond = 1000
	cfg.Duo.ChildAccounts.Enabled = true
	cfg.Duo.ChildAccounts.Refresh = config.Duration(50 * time.Millisecond)
	cfg.Logs = []string{"auth"}
	cfg.StateDir = t.TempDir()
	cfg.Schedule = "@every 1s"
	cfg.Jitter = 0
	cfg.ConcurrentPolls = 4
	cfg.Kafka.Brokers = []string{b.Addr}
	cfg.Kafka.Topic = "duo"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := start(t, cfg)
	flapUntil := time.Now().Add(4 * time.Second)
	for time.Now().Before(flapUntil) {
		srv.RemoveChild("DA1")
		time.Sleep(60 * time.Millisecond)
		srv.AddChild("DA1", "Alpha Corp")
		time.Sleep(60 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got []*kgo.Record
	waitFor(t, func() bool {
		got, _ = kafkatest.ReadAll(ctx, b.Addr, "duo")
		return len(got) >= len(recs)
	})
	time.Sleep(2 * time.Second) // polls after catching up publish nothing more
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	got, err := kafkatest.ReadAll(ctx, b.Addr, "duo")
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.MaxInFlightOf("DA1", duo.PathAuthV2); n > 1 {
		t.Errorf("%d requests of the child's one log at once: a unit ran twice", n)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d messages for %d records", len(got), len(recs))
	}
}

// TestStalledLogIsLoud: a Duo whose paging never moves gives a log answers
// but no progress. Past stall_turns it is reported stalled (metric state
// and readiness) while the daemon goes on, it recovers when Duo does, and
// a one-shot run fails with the stall instead of spinning.
func TestStalledLogIsLoud(t *testing.T) {
	srv, cfg := setup(t, "@every 1s", 100)
	cfg.StallTurns = 3
	srv.Inject(duotest.Fault{Path: duo.PathAuthV2, StuckOffset: true, Count: 8})
	d := start(t, cfg)
	waitFor(t, func() bool { return d.m.State(srv.Host, duo.Auth).Stalled != "" })
	if d.stopped() {
		t.Fatalf("daemon stopped: %v", d.err)
	}
	if s := d.m.State(srv.Host, duo.Auth).Stalled; !strings.Contains(s, "stalled") || !strings.Contains(s, "cursor at") {
		t.Fatalf("stall reason %q", s)
	}
	if d.r.Alive() {
		t.Fatal("the watchdog is still fed while the only log is stalled")
	}
	// Duo pages again: the log moves and is no longer stalled.
	waitFor(t, func() bool { return d.m.Log(duo.Auth).Records == 100 })
	waitFor(t, func() bool { return d.m.State(srv.Host, duo.Auth).Stalled == "" })
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}

	srv.Inject(duotest.Fault{Path: duo.PathAuthV2, StuckOffset: true, Count: 1000})
	cfg.StateDir = t.TempDir()
	r, err := app.NewRunner(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, runner.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() { done <- r.Once(context.Background()) }()
	select {
	case err := <-done:
		var stall *runner.StalledError
		if !errors.As(err, &stall) || stall.Turns != 3 {
			t.Fatalf("Once = %v; want the stall", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run --once spins on a stalled log")
	}
}

// TestBackfillStartsExactlyAtSince: a backfill's first window starts at
// --since itself, not at since as computed from a second reading of the
// clock (issue 19, item 12: the records of the range's first moments were
// skipped). The clock here moves a second at each reading.
func TestBackfillStartsExactlyAtSince(t *testing.T) {
	srv, cfg := setup(t, "@every 1h", 0)
	since := time.Now().Add(-time.Hour).Truncate(time.Second)
	gen := duotest.NewGenerator(5)
	first := gen.Record(duo.Auth, since.Add(500*time.Millisecond))
	srv.Add(first, gen.Record(duo.Auth, since.Add(10*time.Minute)))
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	b := &backfill.Spec{Name: "t", Range: "t", Since: since, Until: since.Add(30 * time.Minute)}
	r, err := app.NewRunner(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, runner.Options{Backfill: b, Now: now}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := kafkatest.ReadAll(ctx, cfg.Kafka.Brokers[0], "duo")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d messages for the range's 2 records (the first, half a second after since, is %s)", len(got), first.ID)
	}
}

// TestChildrenWithOneName: two MSP children with the same name keep their
// own metrics and readiness (the second labelled with its key too), and
// --accounts with the name reads both (issue 19, item 7).
func TestChildrenWithOneName(t *testing.T) {
	srv := duotest.New(t)
	now := time.Now()
	for i, id := range []string{"DA1", "DA2"} {
		srv.AddChild(id, "Same Co")
		srv.AddForAccount(id, duotest.NewGenerator(uint64(20+i)).Fill(duo.Auth, now.Add(-5*time.Hour), now.Add(-time.Hour), 100*(i+1))...)
	}
	b := kafkatest.NewBroker(t, 1, "duo")
	cfg := config.Default()
	cfg.Duo.APIHost, cfg.Duo.IKey, cfg.Duo.SKey, cfg.Duo.CAFile = srv.Host, srv.IKey, redact.Secret(srv.SKey), srv.CAFile
	cfg.Duo.RequestsPerSecond = 1000
	cfg.Duo.ChildAccounts.Enabled = true
	cfg.Logs = []string{"auth"}
	cfg.StateDir = t.TempDir()
	cfg.Schedule, cfg.Jitter = "@every 1s", 0
	cfg.Kafka.Brokers, cfg.Kafka.Topic = []string{b.Addr}, "duo"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := startWith(t, cfg, runner.Options{Accounts: []string{"Same Co"}})
	second := "Same Co (" + srv.Host + "/DA2)"
	waitFor(t, func() bool {
		return d.m.State("Same Co", duo.Auth).Records == 100 && d.m.State(second, duo.Auth).Records == 200
	})
}

// TestPollLineCountsTheWholePoll: a poll of more pages than one turn
// reports all of them in its "poll finished" line, and an empty poll is
// not an INFO line (issue 21, item 1).
func TestPollLineCountsTheWholePoll(t *testing.T) {
	_, cfg := setup(t, "@every 1h", 9500) // 10 pages: two turns
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := app.NewRunner(context.Background(), cfg, logger, nil, runner.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "poll finished"); n != 1 || !strings.Contains(logs.String(), "records=9500 pages=10 ") {
		t.Fatalf("%d poll lines; want one with records=9500 pages=10:\n%s", n, logs.String())
	}
	logs.Reset()
	if err := r.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "poll finished") {
		t.Errorf("an empty poll is logged at INFO:\n%s", logs.String())
	}
}
