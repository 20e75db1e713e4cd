package accounts_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/duo"
)

func TestChildrenAndSelect(t *testing.T) {
	parent := accounts.Account{APIHost: "api-parent", IKey: "DIP", SKey: "s", Logs: []duo.LogType{duo.Auth}}
	list := []duo.ChildAccount{
		{AccountID: "DA1", Name: "Acme Corp", APIHostname: "api-1"},
		{AccountID: "DA2", Name: "Beta / Test", APIHostname: "api-2"},
		{AccountID: "DA3", Name: "Gamma", APIHostname: "api-3"},
	}
	kids := accounts.Children(list, parent, accounts.Filter{Exclude: []string{"*Test"}})
	if len(kids) != 2 || kids[1].ID != "DA3" || kids[1].APIHost != "api-3" || kids[1].IKey != "DIP" || kids[1].Logs[0] != duo.Auth {
		t.Fatalf("children %+v", kids)
	}
	if kids[0].Key() != "api-1/DA1" || kids[0].Label() != "Acme Corp" || kids[0].TopicName() != "DA1" {
		t.Errorf("child naming: %s %s %s", kids[0].Key(), kids[0].Label(), kids[0].TopicName())
	}
	if got := (accounts.Account{Name: "x y", APIHost: "h:443"}).TopicName(); got != "x_y" {
		t.Errorf("TopicName = %q", got)
	}
	if got := (accounts.Account{APIHost: "h:443"}).TopicName(); got != "h_443" {
		t.Errorf("TopicName = %q", got)
	}
	sel, err := accounts.Select(kids, []string{"Gamma", "DA1", "api-3/DA3"})
	if err != nil || len(sel) != 2 || sel[0].ID != "DA1" || sel[1].ID != "DA3" {
		t.Fatalf("Select: %+v %v", sel, err)
	}
	if _, err := accounts.Select(kids, []string{"Delta"}); err == nil || !strings.Contains(err.Error(), `no account is named "Delta" (known: Acme Corp, Gamma)`) {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestDiscoveryWatch: each listing is filtered and given on; a failed one
// is reported and changes nothing; with Names, only the named children.
func TestDiscoveryWatch(t *testing.T) {
	parent := accounts.Account{APIHost: "api-parent", IKey: "DIP", SKey: "s"}
	listings := [][]duo.ChildAccount{
		{{AccountID: "DA1", Name: "Acme", APIHostname: "api-1"}, {AccountID: "DA2", Name: "Beta", APIHostname: "api-2"}},
		nil, // fails
		{{AccountID: "DA2", Name: "Beta", APIHostname: "api-2"}},
	}
	calls := 0
	d := &accounts.Discovery{Parent: parent, Names: []string{"Beta", "DA3"}, Refresh: time.Millisecond,
		List: func(context.Context) ([]duo.ChildAccount, error) {
			defer func() { calls++ }()
			if listings[calls%len(listings)] == nil {
				return nil, errors.New("503")
			}
			return listings[calls%len(listings)], nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	var got []string
	var failures int
	d.Watch(ctx, func(children []accounts.Account) {
		var ids []string
		for _, c := range children {
			ids = append(ids, c.ID)
		}
		got = append(got, strings.Join(ids, ","))
		if len(got) == 2 {
			cancel()
		}
	}, func(error) { failures++ })
	if strings.Join(got, " ") != "DA2 DA2" || failures != 1 {
		t.Errorf("listings %q, %d failures; want [DA2 DA2], 1", got, failures)
	}
}

// TestResolve: --account names a configured account by name, id or host,
// or a discovered child by its id among the saved cursors' keys; without
// it, the one account configured.
func TestResolve(t *testing.T) {
	one := []accounts.Account{{Name: "main", APIHost: "api-1"}}
	two := append(one, accounts.Account{Name: "eu", APIHost: "api-2"})
	saved := []string{"api-1", "api-9/DA9", "api-8/DA8", "api-8/DA8"}
	for _, tc := range []struct {
		static   []accounts.Account
		discover bool
		name     string
		want     string
		err      string
	}{
		{static: one, want: "api-1"},
		{static: two, err: "several accounts are configured"},
		{static: one, discover: true, err: "several accounts"},
		{static: two, name: "eu", want: "api-2"},
		{static: two, name: "api-2", want: "api-2"},
		{static: two, name: "DA9", want: "api-9/DA9"},
		{static: two, name: "DA8", want: "api-8/DA8"},
		{static: two, name: "nobody", err: `no account "nobody" is configured or has cursors`},
	} {
		got, err := accounts.Resolve(tc.static, tc.discover, tc.name, saved)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Resolve(%q) = %q, %v; want error %q", tc.name, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := accounts.Resolve(two, false, "DA", []string{"h/xDA", "api-1/DA", "api-2/DA"}); err == nil || !strings.Contains(err.Error(), "matches several accounts") {
		t.Errorf("ambiguous: %v", err)
	}
	if !accounts.Named(two, "", "anything") || !accounts.Named(two, "eu", "api-2") || accounts.Named(two, "eu", "api-1") || !accounts.Named(two, "DA9", "api-9/DA9") {
		t.Error("Named")
	}
}
