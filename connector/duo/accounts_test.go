package duo_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/internal/redact"
)

// TestChildAccounts: the Accounts API listing is a signed POST, and a
// child's client (ForAccount) sends the child's account_id to its
// api_hostname with the parent's keys and a budget of its own.
func TestChildAccounts(t *testing.T) {
	srv := duotest.New(t)
	srv.AddChild("DA111", "Customer One")
	srv.AddChild("DA222", "Customer Two")
	parent, err := duo.NewClient(srv.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	children, err := parent.ChildAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(children) != 2 || children[1].AccountID != "DA222" || children[1].Name != "Customer Two" || children[1].APIHostname != srv.Host {
		t.Fatalf("children = %+v", children)
	}
	child, err := parent.ForAccount(duo.Account{APIHost: children[1].APIHostname, IKey: srv.IKey, SKey: redact.Secret(srv.SKey), AccountID: "DA222"})
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Check(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	if last.Account != "DA222" || last.Status != http.StatusOK {
		t.Fatalf("child request: %+v", last)
	}
	if reqs[0].Method != http.MethodPost || reqs[0].Path != duo.PathAccountList || reqs[0].Account != "" {
		t.Fatalf("listing request: %+v", reqs[0])
	}

	// A revoked child fails alone; the parent's wrong keys are named.
	srv.SetRevoked("DA222", true)
	var apiErr *duo.APIError
	if err := child.Check(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Fatalf("revoked child: %v", err)
	}
	cfg := srv.ClientConfig()
	cfg.SKey = "wrong"
	bad, err := duo.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.ChildAccounts(ctx); err == nil || !contains(err.Error(), "Accounts API application") {
		t.Fatalf("wrong parent keys: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestYieldInsteadOfWaiting: a call never sleeps: a spent
// budget or a failure comes back as a RetryLaterError saying how long to
// wait, the backoff (and Retry-After) carrying over from call to call and
// holding the whole account's budget; a success resets it, and
// MaxAttempts failures in a row end in a TransientError.
func TestYieldInsteadOfWaiting(t *testing.T) {
	srv := duotest.New(t)
	cfg := srv.ClientConfig()
	cfg.RequestsPerSecond = 1
	cfg.Retry = duo.RetryConfig{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, MaxAttempts: 3}
	c, err := duo.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	params := func() url.Values {
		return url.Values{"mintime": {strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)}}
	}
	if _, err := c.Get(ctx, duo.PathAdmin, params()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var later *duo.RetryLaterError
	if _, err := c.Get(ctx, duo.PathAdmin, params()); !errors.As(err, &later) || later.Err != nil || later.Wait < 800*time.Millisecond {
		t.Fatalf("budget spent: %v", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatalf("the call waited %s", time.Since(start))
	}
	time.Sleep(later.Wait)

	srv.Inject(duotest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 2}, duotest.Fault{Status: http.StatusServiceUnavailable, Count: 2})
	if _, err := c.Get(ctx, duo.PathAdmin, params()); !errors.As(err, &later) || later.Err == nil || later.Wait < 2*time.Second {
		t.Fatalf("429 with Retry-After 2: %v", err)
	}
	if _, err := c.Get(ctx, duo.PathAuthV2, params()); !errors.As(err, &later) || later.Err != nil || later.Wait < 1500*time.Millisecond {
		t.Fatalf("another log of the account during the hold: %v", err)
	}
	// sent waits out the budget (as the scheduler does) until a request goes.
	sent := func() (*duo.Response, error) {
		for {
			resp, err := c.Get(ctx, duo.PathAdmin, params())
			if errors.As(err, &later) && later.Err == nil {
				time.Sleep(later.Wait)
				continue
			}
			return resp, err
		}
	}
	if _, err := sent(); !errors.As(err, &later) || later.Err == nil || later.Wait < 100*time.Millisecond {
		t.Fatalf("second failure: %v", err)
	}
	var te *duo.TransientError
	if _, err := sent(); !errors.As(err, &te) || te.Attempts != 3 {
		t.Fatalf("third failure in a row: %v", err)
	}
	if n := len(srv.Requests()); n != 4 {
		t.Fatalf("%d requests, want 4: none while waiting", n)
	}
	if resp, err := sent(); err != nil || resp.Attempts != 1 {
		t.Fatalf("after giving up, a fresh start: %v", err)
	}
}
