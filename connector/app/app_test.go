package app_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/app"
	"github.com/duo-connector/duo-connector/connector/backfill"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/fault"
	"github.com/duo-connector/duo-connector/connector/internal/redact"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

func setup(t *testing.T, recs int) (*duotest.Server, string, config.Config) {
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
	cfg.Jitter = 0
	cfg.Kafka.Brokers = []string{b.Addr}
	cfg.Kafka.Topic = "duo"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return srv, b.Addr, cfg
}

// TestOnceShowReset: a one-shot run delivers every record, Show reports
// the cursor it saved, Reset deletes it; the service holds the state
// directory while built.
func TestOnceShowReset(t *testing.T) {
	_, addr, cfg := setup(t, 2500)
	ctx := context.Background()
	svc, err := app.Build(ctx, cfg, app.Options{OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Build(ctx, cfg, app.Options{OneShot: true}); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Errorf("a second service on the same state directory: %v", err)
	}
	if err := svc.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if st := svc.Metrics().Log(duo.Auth); st.Records != 2500 {
		t.Errorf("%d records counted, want 2500", st.Records)
	}
	// While the service holds the state directory, its cursors can be
	// read (issue 21, item 5), not changed.
	if _, _, err := app.OpenCursors(ctx, cfg, false, true, false); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Errorf("opened for writing while in use: %v", err)
	}
	ro, _, err := app.OpenCursors(ctx, cfg, false, false, false)
	if err != nil {
		t.Fatalf("read-only while in use: %v", err)
	}
	if st, err := app.Show(ctx, cfg, ro, nil, app.Selection{}, time.Now()); err != nil || len(st.Cursors) != 1 {
		t.Errorf("show while in use: %+v, %v", st, err)
	}
	if err := ro.Delete(ctx, checkpoint.Key{Account: cfg.Duo.APIHost, Log: "auth"}); err == nil {
		t.Error("a read-only store deleted a cursor")
	}
	ro.Close()
	svc.Close()
	recs, err := kafkatest.ReadAll(ctx, addr, "duo")
	if err != nil || len(recs) != 2500 {
		t.Fatalf("%d records in Kafka (%v), want 2500", len(recs), err)
	}

	cursors, files, err := app.OpenCursors(ctx, cfg, false, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer cursors.Close()
	st, err := app.Show(ctx, cfg, cursors, nil, app.Selection{}, time.Now())
	if err != nil || len(st.Cursors) != 1 || st.Cursors[0].Log != "auth" || st.Cursors[0].Delivered.IsZero() {
		t.Fatalf("show: %+v, %v", st, err)
	}
	var reset []string
	err = app.Reset(ctx, cfg, cursors, files, app.Selection{Logs: []duo.LogType{duo.Auth}}, func(what, _ string) { reset = append(reset, what) })
	if err != nil || len(reset) != 1 {
		t.Fatalf("reset: %v, %v", reset, err)
	}
	if st, _ := app.Show(ctx, cfg, cursors, nil, app.Selection{}, time.Now()); len(st.Cursors) != 0 {
		t.Errorf("after reset: %+v", st.Cursors)
	}
	err = app.Reset(ctx, cfg, cursors, files, app.Selection{Logs: []duo.LogType{duo.Auth}, Backfill: "nosuch"}, func(string, string) {})
	if err == nil || !strings.Contains(err.Error(), "no backfill named") {
		t.Errorf("reset of a backfill that does not exist: %v", err)
	}
}

// TestListenerTakenIsAConfigError: an http.listen that cannot be bound is
// the operator's to fix (the command exits 2), said with the key.
func TestListenerTakenIsAConfigError(t *testing.T) {
	_, _, cfg := setup(t, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg.HTTP.Listen = ln.Addr().String()
	ctx := context.Background()
	svc, err := app.Build(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	err = svc.Run(ctx)
	if fault.Of(err) != fault.Config || !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("Run = %v, want a ConfigError naming http.listen", err)
	}
}

// TestCheckConfig: every finding ok with good settings; a wrong secret
// key fails the account's finding (and so the check), and the key is
// never shown.
func TestCheckConfig(t *testing.T) {
	_, _, cfg := setup(t, 10)
	ctx := context.Background()
	for _, f := range app.CheckConfig(ctx, cfg) {
		if !f.OK() {
			t.Errorf("%s", f)
		}
	}
	cfg.Duo.SKey = redact.Secret("not-the-secret-key-0123456789abcdef0123")
	var failed []string
	for _, f := range app.CheckConfig(ctx, cfg) {
		if strings.Contains(f.String(), "not-the-secret") {
			t.Errorf("the secret key is shown: %s", f)
		}
		if !f.OK() {
			failed = append(failed, f.Subject)
		}
	}
	if len(failed) != 1 || failed[0] != "duo" {
		t.Errorf("failed: %v, want [duo]", failed)
	}
}

// TestBackfillLogResetIsPending: after one log of a finished backfill is
// reset, the backfill's status lists that log as pending, not absent, and
// the backfill is no longer done (issue 21, item 5).
func TestBackfillLogResetIsPending(t *testing.T) {
	_, _, cfg := setup(t, 300)
	ctx := context.Background()
	spec, _, err := backfill.Parse("6h", "30m", time.Now(), cfg.Lag.D())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.Build(ctx, cfg, app.Options{OneShot: true, Backfill: &spec})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Once(ctx); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	status := func() app.BackfillRow {
		t.Helper()
		cursors, files, err := app.OpenCursors(ctx, cfg, true, false, false)
		if err != nil {
			t.Fatal(err)
		}
		defer cursors.Close()
		st, err := app.Show(ctx, cfg, cursors, files, app.Selection{}, time.Now())
		if err != nil || len(st.Backfills) != 1 {
			t.Fatalf("show: %+v, %v", st, err)
		}
		return st.Backfills[0]
	}
	if b := status(); !b.Done || b.Progress["auth"] != 1 {
		t.Fatalf("finished backfill: %+v", b)
	}
	cursors, files, err := app.OpenCursors(ctx, cfg, true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	err = app.Reset(ctx, cfg, cursors, files, app.Selection{Logs: []duo.LogType{duo.Auth}, Backfill: spec.Name}, func(string, string) {})
	cursors.Close()
	if err != nil {
		t.Fatal(err)
	}
	b := status()
	if p, listed := b.Progress["auth"]; !listed || p != 0 || b.Done {
		t.Errorf("after resetting auth: progress %v (listed %t), done %t; want auth pending", b.Progress, listed, b.Done)
	}
}

// TestCheckConfigListen: config check tries http.listen: an address that
// cannot be listened on fails, one in use is a warning (issue 21, item 4).
func TestCheckConfigListen(t *testing.T) {
	_, _, cfg := setup(t, 10)
	find := func(cfg config.Config) app.Finding {
		for _, f := range app.CheckConfig(context.Background(), cfg) {
			if f.Subject == "http.listen" {
				return f
			}
		}
		t.Fatal("no http.listen finding")
		return app.Finding{}
	}
	cfg.HTTP.Listen = "nohost.invalid:9100"
	if f := find(cfg); f.OK() || !strings.Contains(f.String(), "cannot be listened on") {
		t.Errorf("nohost: %s", f)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg.HTTP.Listen = ln.Addr().String()
	if f := find(cfg); !f.OK() || f.Status != "WARNING" {
		t.Errorf("in use: %s", f)
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	if f := find(cfg); f.Status != "ok" {
		t.Errorf("free: %s", f)
	}
}
