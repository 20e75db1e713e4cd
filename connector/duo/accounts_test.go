package duo_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
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
	child, err := parent.ForAccount(duo.Account{APIHost: children[1].APIHostname, IKey: srv.IKey, SKey: srv.SKey, AccountID: "DA222"})
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
