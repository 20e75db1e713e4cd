package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
)

// TestAccountList: explicit accounts with secrets from a file and from
// their environment variable, logs and budgets of their own, and the
// account of duo.* beside them; cursor keys do not depend on names.
func TestAccountList(t *testing.T) {
	skey := filepath.Join(t.TempDir(), "skey")
	os.WriteFile(skey, []byte("east-secret\n"), 0o600)
	cfg, err := config.Load(write(t, `
duo: {api_host: api-main.duosecurity.com, ikey: DIMAIN, skey: main-secret}
logs: [auth, admin]
accounts:
  - {name: east, api_host: api-east.duosecurity.com, ikey: DIEAST, skey_file: `+skey+`}
  - name: west-2
    api_host: api-west.duosecurity.com
    ikey: DIWEST
    logs: [auth, telephony]
    requests_per_second: 2
kafka: {brokers: ["k:9092"]}
state_dir: /tmp/x
`), []string{"DUO_CONNECTOR_ACCOUNTS_WEST_2_SKEY=west-secret"})
	if err != nil {
		t.Fatal(err)
	}
	accts := cfg.Accounts()
	if len(accts) != 3 {
		t.Fatalf("accounts %+v", accts)
	}
	main, east, west := accts[0], accts[1], accts[2]
	if main.Key() != "api-main.duosecurity.com" || main.Label() != main.Key() || main.SKey != "main-secret" {
		t.Errorf("duo.* account: %+v", main)
	}
	if east.SKey != "east-secret" || east.Key() != "api-east.duosecurity.com" || east.Label() != "east" || len(east.Logs) != 2 {
		t.Errorf("east: %+v", east)
	}
	if west.SKey != "west-secret" || west.RequestsPerSecond != 2 || west.Logs[1] != duo.Telephony || west.TopicName() != "west-2" {
		t.Errorf("west: %+v", west)
	}
	if got := cfg.Topics(accts); len(got) != 1 || got[0] != "duo-logs" {
		t.Errorf("topics %v", got)
	}
}

// TestAccountListErrors: every bad item is named by its index and name,
// with the fix.
func TestAccountListErrors(t *testing.T) {
	_, err := config.Load(write(t, `
accounts:
  - {api_host: api-a.duosecurity.com, ikey: DIA, skey: s}
  - {name: "bad name", api_host: api-b.duosecurity.com, ikey: DIB, skey: s}
  - {name: c, api_host: "https://api-c/", skey: s, logs: [auth, auth, nope]}
  - {name: C, api_host: api-a.duosecurity.com, ikey: DID, skey: s}
  - {name: us-east, api_host: api-e.duosecurity.com, ikey: DIE, skey: s}
  - {name: us.east, api_host: api-f.duosecurity.com, ikey: DIF, skey: s}
  - {name: us_east, api_host: api-g.duosecurity.com, ikey: DIG, skey: s}
kafka: {brokers: ["k:9092"]}
state_dir: /tmp/x
`), nil)
	if err == nil {
		t.Fatal("bad accounts accepted")
	}
	for _, want := range []string{
		"accounts[0].name is missing",
		`accounts[1] (bad name).name "bad name": use letters`,
		"accounts[2] (c).api_host",
		"accounts[2] (c).ikey is missing",
		"accounts[2] (c).logs: auth is listed twice",
		`accounts[2] (c).logs: unknown log type "nope"`,
		`accounts[3] (C).name "C" collides with accounts[2].name "c"`,
		// Issue 19, item 7: one environment variable for three accounts.
		`accounts[5] (us.east).name "us.east" collides with accounts[4].name "us-east"`,
		`accounts[6] (us_east).name "us_east" collides with accounts[4].name "us-east": names must differ by more than case and '.', '_', '-' (both would read their secret from DUO_CONNECTOR_ACCOUNTS_US_EAST_SKEY)`,
		"read the same Duo account (api-a.duosecurity.com)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "duo.api_host") {
		t.Errorf("duo.api_host required although accounts are listed:\n%v", err)
	}
	_, err = config.Load(write(t, `
accounts: [{name: east, api_host: api-a.duosecurity.com, ikey: DIA}]
kafka: {brokers: ["k:9092"]}
state_dir: /tmp/x
`), []string{"DUO_CONNECTOR_ACCOUNTS_ZULU_SKEY=x"})
	if err == nil || !strings.Contains(err.Error(), "DUO_CONNECTOR_ACCOUNTS_ZULU_SKEY matches no configuration key") {
		t.Errorf("secret for an account not listed: %v", err)
	}
}

// TestChildAccountsConfig: discovery makes duo.* the parent's keys (not
// an account read itself), and its filter and refresh are checked.
func TestChildAccountsConfig(t *testing.T) {
	cfg, err := config.Load(write(t, `
duo:
  api_host: api-parent.duosecurity.com
  ikey: DIPARENT
  skey: s
  child_accounts: {enabled: true, include: ["DA*", "Acme*"], exclude: ["*test*"]}
kafka: {brokers: ["k:9092"]}
state_dir: /tmp/x
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Accounts()) != 0 {
		t.Errorf("the parent is read as an account: %+v", cfg.Accounts())
	}
	parent, f, ok := cfg.Discovery()
	if !ok || parent.IKey != "DIPARENT" || cfg.Duo.ChildAccounts.Refresh.D().Minutes() != 15 {
		t.Fatalf("discovery %+v %v", parent, ok)
	}
	for _, c := range []struct {
		id, name string
		keep     bool
	}{{"DA1", "Someone", true}, {"DX1", "Acme Corp", true}, {"DA2", "a test tenant", false}, {"DX2", "Other", false}} {
		if f.Keep(c.id, c.name) != c.keep {
			t.Errorf("Keep(%s, %s) = %v", c.id, c.name, !c.keep)
		}
	}
	_, err = config.Load(write(t, `
duo:
  api_host: api-parent.duosecurity.com
  ikey: DIPARENT
  skey: s
  account_id: DA1
  child_accounts: {enabled: true, refresh: 0s, include: ["[a-"]}
kafka: {brokers: ["k:9092"]}
state_dir: /tmp/x
`), nil)
	for _, want := range []string{"duo.account_id and duo.child_accounts.enabled", "duo.child_accounts.refresh must be above 0", `"[a-" is not a glob`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
