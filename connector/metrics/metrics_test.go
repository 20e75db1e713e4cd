package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/metrics"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// TestReadiness: ready only when every log polled successfully within the
// allowed intervals and Kafka answers.
func TestReadiness(t *testing.T) {
	m := newMetrics("api-x", []duo.LogType{duo.Auth, duo.Admin})
	kafkaErr := error(nil)
	h := m.Handler(metrics.Health{Interval: time.Minute, Intervals: 3, Kafka: func(context.Context) error { return kafkaErr }})
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, `"auth":{"ready":false,"last_error":"its first poll has not finished yet"}`) {
		t.Fatalf("before any poll: %d %s", code, body)
	}
	// The first poll retrying: /readyz says why (issue 21, item 10).
	m.Retrying("api-x", duo.Auth, errors.New("HTTP 429, code 42901: Too Many Requests"))
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, `"last_error":"retrying: HTTP 429, code 42901`) {
		t.Fatalf("first poll retrying: %d %s", code, body)
	}
	m.PollFinished("api-x", duo.Auth, nil)
	m.PollFinished("api-x", duo.Admin, errors.New("duo GET /admin/v1/logs/administrator: HTTP 403, code 40301"))
	code, body := get(t, h, "/readyz")
	var report struct {
		Ready bool
		Logs  map[string]struct {
			Ready     bool
			LastError string `json:"last_error"`
		}
	}
	json.Unmarshal([]byte(body), &report)
	if code != 503 || report.Ready || !report.Logs["auth"].Ready || report.Logs["admin"].Ready || !strings.Contains(report.Logs["admin"].LastError, "40301") {
		t.Fatalf("one log failing: %d %s", code, body)
	}
	m.PollFinished("api-x", duo.Admin, nil)
	if code, body := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("all polls ok: %d %s", code, body)
	}
}

// TestMetricsExposed: the counters move with what the observers report.
func TestMetricsExposed(t *testing.T) {
	m := newMetrics("api-x", []duo.LogType{duo.Auth})
	m.Request(duo.PathAuthV2, 200, 30*time.Millisecond)
	m.Request(duo.PathAuthV2, 429, 10*time.Millisecond)
	m.Retry(duo.PathAuthV2, errors.New("429"))
	m.PagePublished("api-x", duo.Auth, 1000, 2, 0, 50*time.Millisecond, time.Now().Add(-3*time.Minute))
	m.Skew(42 * time.Second)
	_, body := get(t, m.Handler(metrics.Health{Interval: time.Minute}), "/metrics")
	for _, want := range []string{
		`duo_connector_api_requests_total{endpoint="/admin/v2/logs/authentication",status="429"} 1`,
		`duo_connector_api_rate_limited_total{endpoint="/admin/v2/logs/authentication"} 1`,
		`duo_connector_api_retries_total{endpoint="/admin/v2/logs/authentication"} 1`,
		`duo_connector_records_published_total{log="auth"} 1000`,
		`duo_connector_records_failed_normalize_total{log="auth"} 2`,
		`duo_connector_kafka_write_duration_seconds_count{log="auth"} 1`,
		`duo_connector_clock_skew_seconds 42`,
		`duo_connector_cursor_lag_seconds{account="api-x",log="auth"} 18`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if total, retries, limited := m.Requests(); total != 2 || retries != 1 || limited != 1 {
		t.Errorf("Requests() = %d %d %d", total, retries, limited)
	}
}

// TestLagOnQuietLog: a log whose newest record is days old but which was
// checked through a minute ago is a minute behind, not days.
func TestLagOnQuietLog(t *testing.T) {
	m := newMetrics("api-x", []duo.LogType{duo.Admin})
	now := time.Now()
	m.CursorAt("api-x", duo.Admin, now.Add(-72*time.Hour), now.Add(-150*time.Second))
	_, body := get(t, m.Handler(metrics.Health{Interval: time.Minute}), "/metrics")
	var lag float64
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, `duo_connector_cursor_lag_seconds{account="api-x",log="admin"}`) {
			fmt.Sscan(strings.Fields(line)[1], &lag)
		}
	}
	if lag < 149 || lag > 160 {
		t.Fatalf("cursor lag %v s on a quiet log checked 150 s ago", lag)
	}
	if !strings.Contains(body, "duo_connector_cursor_timestamp_seconds") {
		t.Fatal("no cursor timestamp metric")
	}
}

// TestUnreadyWhenCursorNotSaved: a log whose cursor cannot be saved is
// unready at once, not three intervals later; a good poll clears it.
func TestUnreadyWhenCursorNotSaved(t *testing.T) {
	m := newMetrics("api-x", []duo.LogType{duo.Auth})
	h := m.Handler(metrics.Health{Interval: time.Minute})
	m.PollFinished("api-x", duo.Auth, nil)
	err := errors.New("published 1000 records to Kafka, cursor not saved")
	m.PollFinished("api-x", duo.Auth, err)
	m.CursorNotSaved("api-x", duo.Auth, err)
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "cursor not saved") {
		t.Fatalf("cursor not saved: %d %s", code, body)
	}
	m.PollFinished("api-x", duo.Auth, nil)
	if code, body := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("after a good poll: %d %s", code, body)
	}
}

// newMetrics returns Metrics tracking the logs of one account.
func newMetrics(account string, logs []duo.LogType) *metrics.Metrics {
	m := metrics.New()
	for _, lt := range logs {
		m.Track(account, lt, lt.Path(false))
	}
	return m
}

// TestReadinessManyAccounts: with several accounts, one failing customer
// does not make the connector unready; it is listed, with its error, and
// the healthy ones only counted. A cursor that cannot be saved is the
// connector's own trouble: unready, whatever the accounts.
func TestReadinessManyAccounts(t *testing.T) {
	m := metrics.New()
	h := m.Handler(metrics.Health{Interval: time.Minute})
	for _, a := range []string{"acme", "beta", "gamma"} {
		m.Track(a, duo.Auth, duo.PathAuthV2)
		m.Track(a, duo.Admin, duo.PathAdmin)
	}
	if code, _ := get(t, h, "/readyz"); code != 503 {
		t.Fatalf("ready before any poll: %d", code)
	}
	for _, a := range []string{"acme", "gamma"} {
		m.PollFinished(a, duo.Auth, nil)
		m.PollFinished(a, duo.Admin, nil)
	}
	m.PollFinished("beta", duo.Auth, errors.New("HTTP 403, code 40301"))
	code, body := get(t, h, "/readyz")
	var report struct {
		Ready         bool
		AccountsReady int `json:"accounts_ready"`
		Failing       map[string]struct {
			Logs map[string]struct {
				LastError string `json:"last_error"`
			}
		} `json:"failing_accounts"`
	}
	json.Unmarshal([]byte(body), &report)
	if code != 200 || !report.Ready || report.AccountsReady != 2 || len(report.Failing) != 1 ||
		!strings.Contains(report.Failing["beta"].Logs["auth"].LastError, "40301") {
		t.Fatalf("one customer failing: %d %s", code, body)
	}
	m.CursorNotSaved("acme", duo.Auth, errors.New("cursor not saved"))
	if code, body := get(t, h, "/readyz"); code != 503 {
		t.Fatalf("cursor not saved: %d %s", code, body)
	}
	m.Forget("beta")
	m.PollFinished("acme", duo.Auth, nil)
	_, metricsBody := get(t, h, "/metrics")
	if strings.Contains(metricsBody, `account="beta"`) || !strings.Contains(metricsBody, `duo_connector_accounts{state="ok"} 2`) {
		t.Fatalf("after forgetting beta:\n%s", metricsBody)
	}
}
