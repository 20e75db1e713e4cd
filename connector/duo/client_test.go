package duo_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

func newServer(t *testing.T, opts ...duotest.Option) *duotest.Server {
	t.Helper()
	return duotest.New(t, opts...)
}

func newClient(t *testing.T, s *duotest.Server, mod func(*duo.Config)) *duo.Client {
	t.Helper()
	cfg := s.ClientConfig()
	cfg.Retry = duo.RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, MaxAttempts: 10}
	if mod != nil {
		mod(&cfg)
	}
	c, err := duo.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func v1Params() url.Values {
	return url.Values{"mintime": {strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)}}
}

// TestTransientFailuresAreRetried: runs of 429s, 5xx, truncated bodies and
// slow answers are absorbed by our retries, with a fresh request each time.
func TestTransientFailuresAreRetried(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, func(c *duo.Config) { c.Timeout = 200 * time.Millisecond })
	s.Inject(
		duotest.Fault{Status: 429, Count: 3},
		duotest.Fault{Status: 500},
		duotest.Fault{Status: 503, Count: 2},
		duotest.Fault{Truncate: true},
		duotest.Fault{Delay: time.Second}, // beyond the client timeout
		duotest.Fault{Status: 429, RetryAfter: 1},
	)
	resp, err := await(c, context.Background(), duo.PathAdmin, v1Params())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Attempts != 10 {
		t.Errorf("attempts = %d, want 10 (9 faults, then success)", resp.Attempts)
	}
	if n := s.PendingFaults(); n != 0 {
		t.Errorf("%d faults left unused", n)
	}
	if got := len(s.Requests()); got != 10 {
		t.Errorf("server saw %d requests, want 10: one per attempt, no hidden retries", got)
	}
}

// TestRetryAfterHonoured: a 429 with Retry-After is not retried sooner than
// it says, even when the backoff would be much shorter.
func TestRetryAfterHonoured(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, nil) // backoff of a few milliseconds
	s.Inject(duotest.Fault{Status: 429, RetryAfter: 1})
	if _, err := await(c, context.Background(), duo.PathAdmin, v1Params()); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	if gap := reqs[1].Time.Sub(reqs[0].Time); gap < 900*time.Millisecond {
		t.Fatalf("retried %s after a 429 with Retry-After: 1", gap)
	}
}

// TestRateLimitBypassesLibraryLoop: a 429 reaches our retry logic after one
// request; the client library's own blocking 7-try loop never runs.
func TestRateLimitBypassesLibraryLoop(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, func(c *duo.Config) { c.Retry.MaxAttempts = 1 })
	s.Inject(duotest.Fault{Status: 429, Count: 5})
	_, err := await(c, context.Background(), duo.PathAdmin, v1Params())
	var te *duo.TransientError
	var apiErr *duo.APIError
	if !errors.As(err, &te) || !errors.As(err, &apiErr) || apiErr.Code != 42901 {
		t.Fatalf("err = %v, want a transient 42901", err)
	}
	if got := len(s.Requests()); got != 1 {
		t.Fatalf("server saw %d requests, want 1", got)
	}
}

// TestPermanentErrors: each permanent error carries Duo's code and message
// and says what to fix, without retries.
func TestPermanentErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*duotest.Server, *duo.Config)
		want  []string
	}{
		{"wrong secret key", func(s *duotest.Server, c *duo.Config) { c.SKey = "not-the-secret" },
			[]string{"HTTP 401", "40103", "Invalid signature", "duo.skey", "local time", "Duo's Date"}},
		{"rotated secret", func(s *duotest.Server, c *duo.Config) { s.RotateSecret("rotated-secret") },
			[]string{"40103", "duo.skey"}},
		{"wrong integration key", func(s *duotest.Server, c *duo.Config) { c.IKey = "DIWRONGWRONGWRONGWRO" },
			[]string{"HTTP 401", "40102", "duo.ikey"}},
		{"missing permission", func(s *duotest.Server, c *duo.Config) { s.SetReadLogPermission(false) },
			[]string{"HTTP 403", "40301", "Grant read log"}},
		// An accounts: item's keys are named as its own (issue 21, item 7).
		{"an account's wrong secret key", func(s *duotest.Server, c *duo.Config) {
			c.SKey, c.KeysAt = "not-the-secret", "accounts[1] (us-east)"
		}, []string{"40103", "accounts[1] (us-east): check accounts[1].skey", "whose integration key is accounts[1].ikey"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			cfg := s.ClientConfig()
			cfg.Retry = duo.RetryConfig{InitialBackoff: time.Millisecond, MaxAttempts: 5}
			tc.setup(s, &cfg)
			c, err := duo.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = await(c, context.Background(), duo.PathAdmin, v1Params())
			var apiErr *duo.APIError
			if !errors.As(err, &apiErr) || apiErr.Temporary() {
				t.Fatalf("err = %v, want a permanent *APIError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), cfg.SKey.Value()) || strings.Contains(err.Error(), s.SKey) {
				t.Errorf("error reveals a secret key: %v", err)
			}
			if n := len(s.Requests()); n != 1 {
				t.Errorf("permanent error retried: %d requests", n)
			}
		})
	}
}

// TestBadRequestDetail: a 400 keeps Duo's message_detail.
func TestBadRequestDetail(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, nil)
	_, err := await(c, context.Background(), duo.PathAuthV2, url.Values{"mintime": {"1700000000"}, "maxtime": {"1700000001"}})
	if err == nil || !strings.Contains(err.Error(), "'mintime' must be a timestamp in milliseconds") {
		t.Fatalf("err = %v", err)
	}
}

// TestBudget: requests through one client, from several goroutines, are
// never closer together than the budget allows.
func TestBudget(t *testing.T) {
	s := newServer(t)
	const rate = 20.0 // one request per 50 ms
	c := newClient(t, s, func(c *duo.Config) { c.RequestsPerSecond = rate })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 4 {
				if _, err := await(c, context.Background(), duo.PathAdmin, v1Params()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	reqs := s.Requests()
	if len(reqs) != 16 {
		t.Fatalf("%d requests, want 16", len(reqs))
	}
	interval := time.Duration(float64(time.Second) / rate)
	span := reqs[len(reqs)-1].Time.Sub(reqs[0].Time)
	// Arrival times can bunch by scheduling noise; the total cannot shrink.
	if min := 15 * interval * 9 / 10; span < min {
		t.Fatalf("16 requests arrived within %s; the budget allows no less than %s", span, min)
	}
}

// TestBudgetDuringRetries: retries wait for the budget too, so a 429 storm
// does not turn into a request storm.
func TestBudgetDuringRetries(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, func(c *duo.Config) { c.RequestsPerSecond = 20 })
	s.Inject(duotest.Fault{Status: 429, Count: 6})
	start := time.Now()
	if _, err := await(c, context.Background(), duo.PathAdmin, v1Params()); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 6*50*time.Millisecond*9/10 {
		t.Fatalf("7 requests in %s: the retries ignored the budget", elapsed)
	}
}

// TestCancellation: a call blocked on a slow Duo, or in backoff, returns
// when its context is cancelled.
func TestCancellation(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, func(c *duo.Config) { c.Retry = duo.RetryConfig{InitialBackoff: time.Hour, MaxBackoff: time.Hour} })
	s.Inject(duotest.Fault{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := await(c, ctx, duo.PathAdmin, v1Params()); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Get did not return after its context was cancelled (slow response)")
	}

	s.Inject(duotest.Fault{Status: 503})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	go func() { _, err := await(c, ctx2, duo.PathAdmin, v1Params()); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Get did not return after its context was cancelled (backoff)")
	}
}

// TestPinnedCAsByDefault: without ca_file, the library's pinned Duo roots
// apply, so a server with another certificate is refused.
func TestPinnedCAsByDefault(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, func(c *duo.Config) { c.CAFile = ""; c.Retry.MaxAttempts = 1 })
	_, err := await(c, context.Background(), duo.PathAdmin, v1Params())
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
}

// TestProxy: an explicit proxy URL is used (HTTPS through CONNECT).
func TestProxy(t *testing.T) {
	s := newServer(t)
	var mu sync.Mutex
	var connects []string
	proxy := newConnectProxy(t, func(host string) { mu.Lock(); connects = append(connects, host); mu.Unlock() })
	c := newClient(t, s, func(c *duo.Config) { c.Proxy = proxy })
	if _, err := await(c, context.Background(), duo.PathAdmin, v1Params()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(connects) == 0 || connects[0] != s.Host {
		t.Fatalf("proxy saw CONNECT %v, want %s", connects, s.Host)
	}
}

// TestAccountID: account_id is sent, and signed, on every request.
func TestAccountID(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, func(c *duo.Config) { c.AccountID = "DA0123456789ABCDEFGH" })
	if _, err := await(c, context.Background(), duo.PathAdmin, v1Params()); err != nil {
		t.Fatal(err)
	}
	if got := s.Requests()[0].Account; got != "DA0123456789ABCDEFGH" {
		t.Fatalf("account_id = %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	err := duo.Config{APIHost: "https://api-x.duosecurity.com/", Proxy: "::"}.Validate()
	for _, w := range []string{"api_host", "ikey", "skey", "proxy"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want it to name %q", err, w)
		}
	}
}

// await calls c.Get until it is made, waiting as asked meanwhile.
func await(c *duo.Client, ctx context.Context, path string, params url.Values) (*duo.Response, error) {
	return duo.Await(ctx, func(ctx context.Context) (*duo.Response, error) { return c.Get(ctx, path, params) })
}

func TestParseLogTypes(t *testing.T) {
	lts, err := duo.ParseLogTypes("auth, admin,,telephony")
	if err != nil || len(lts) != 3 {
		t.Fatalf("%v %v", lts, err)
	}
	if _, err := duo.ParseLogTypes("auth,bogus"); err == nil {
		t.Fatal("bogus log accepted")
	}
	if _, err := duo.ParseLogTypes("auth,admin,auth"); err == nil || !strings.Contains(err.Error(), "auth is listed twice") {
		t.Fatalf("a log listed twice: %v", err)
	}
}

// TestAttemptsPerEndpoint: a log's attempt count is its own: another
// log's failures on the same account do not use up its retries, while the
// backoff stays the account's (issue 21, item 10).
func TestAttemptsPerEndpoint(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s, func(c *duo.Config) {
		c.Retry = duo.RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 2}
	})
	s.Inject(duotest.Fault{Status: http.StatusServiceUnavailable, Count: 3})
	ctx := context.Background()
	get := func(path string, params url.Values) error {
		for {
			_, err := c.Get(ctx, path, params)
			var later *duo.RetryLaterError
			if errors.As(err, &later) && later.Err == nil {
				time.Sleep(later.Wait) // the budget or the account's backoff
				continue
			}
			return err
		}
	}
	auth := url.Values{"mintime": {"1700000000000"}, "maxtime": {"1700000001000"}}
	var later *duo.RetryLaterError
	if err := get(duo.PathAdmin, v1Params()); !errors.As(err, &later) || later.Err == nil {
		t.Fatalf("admin, first failure: %v", err)
	}
	if err := get(duo.PathAuthV2, auth); !errors.As(err, &later) || later.Err == nil {
		t.Fatalf("auth, its first failure: %v, want a retry, not its attempts spent", err)
	}
	var te *duo.TransientError
	if err := get(duo.PathAdmin, v1Params()); !errors.As(err, &te) || te.Attempts != 2 {
		t.Fatalf("admin, second failure in a row: %v, want its 2 attempts spent", err)
	}
}
