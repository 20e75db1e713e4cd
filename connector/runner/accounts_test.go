package runner_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
)

// childSetup is setup with the fake's records moved to two MSP children:
// "Big" with a backlog of backlog auth records, "Small" with 10.
func childSetup(t *testing.T, backlog int) (*duotest.Server, config.Config) {
	t.Helper()
	srv, cfg := setup(t, "@every 1h", 0)
	now := time.Now()
	srv.AddChild("DABIG", "Big")
	srv.AddChild("DASMALL", "Small")
	srv.AddForAccount("DABIG", duotest.NewGenerator(2).Fill(duo.Auth, now.Add(-5*time.Hour), now.Add(-time.Hour), backlog)...)
	srv.AddForAccount("DASMALL", duotest.NewGenerator(3).Fill(duo.Auth, now.Add(-5*time.Hour), now.Add(-time.Hour), 10)...)
	cfg.Duo.ChildAccounts.Enabled = true
	cfg.ConcurrentPolls = 1 // one worker: fairness is all in the turns
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return srv, cfg
}

// TestBacklogDoesNotStarveOthers: with a single worker, a child with a
// backlog of 40 pages does not keep another child waiting until it has
// drained: the small child is delivered after at most one turn of the big.
func TestBacklogDoesNotStarveOthers(t *testing.T) {
	_, cfg := childSetup(t, 40_000)
	d := start(t, cfg)
	waitFor(t, func() bool { return d.m.State("Small", duo.Auth).Records == 10 })
	if big := d.m.State("Big", duo.Auth).Records; big >= 20_000 {
		t.Fatalf("the small child waited for %d of the big child's records", big)
	}
	waitFor(t, func() bool { return d.m.State("Big", duo.Auth).Records == 40_000 })
}

// TestRateLimitedAccountSlowsOnlyItself: a child told by a 429 to wait 5
// seconds waits; with a single worker, the other child is served meanwhile
// instead of the worker sleeping through the wait.
func TestRateLimitedAccountSlowsOnlyItself(t *testing.T) {
	srv, cfg := childSetup(t, 3000)
	srv.Inject(duotest.Fault{Account: "DABIG", Status: http.StatusTooManyRequests, RetryAfter: 5})
	began := time.Now()
	d := start(t, cfg)
	waitFor(t, func() bool { return d.m.State("Small", duo.Auth).Records == 10 })
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("the other child was delivered after %s, behind the rate-limited one's 5 s wait", took)
	}
	if d.m.State("Big", duo.Auth).Records != 0 {
		t.Fatal("the rate-limited child did not wait")
	}
	waitFor(t, func() bool { return d.m.State("Big", duo.Auth).Records == 3000 })
	if took := time.Since(began); took < 5*time.Second {
		t.Fatalf("Retry-After 5 not honoured: done in %s", took)
	}
}
