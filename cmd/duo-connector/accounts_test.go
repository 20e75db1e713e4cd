package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// childRecords gives one account of the fake its own records of every
// default log (account "" is the account of the keys themselves).
func childRecords(srv *duotest.Server, account string, seed uint64, n int) map[string]bool {
	return childRecordsOf(srv, account, seed, n, duo.DefaultLogTypes...)
}

// childRecordsOf is childRecords of the logs given.
func childRecordsOf(srv *duotest.Server, account string, seed uint64, n int, logs ...duo.LogType) map[string]bool {
	gen := duotest.NewGenerator(seed)
	now := time.Now()
	ids := map[string]bool{}
	for _, lt := range logs {
		recs := gen.Fill(lt, now.Add(-20*time.Hour), now.Add(-10*time.Minute), n)
		srv.AddForAccount(account, recs...)
		for _, r := range recs {
			ids[eventID(r)] = true
		}
	}
	return ids
}

// byAccount counts the messages of each event id, by the duo.account_id
// header, and checks duo.account_name where names are expected.
func byAccount(t *testing.T, recs []*kgo.Record, names map[string]string) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	for _, r := range recs {
		var id, name string
		for _, h := range r.Headers {
			switch h.Key {
			case "duo.account_id":
				id = string(h.Value)
			case "duo.account_name":
				name = string(h.Value)
			}
		}
		if want, ok := names[id]; ok && name != want {
			t.Errorf("account %s: duo.account_name %q, want %q", id, name, want)
		}
		if out[id] == nil {
			out[id] = map[string]int{}
		}
		out[id][string(r.Key)]++
	}
	return out
}

// exactlyOnce checks that every id of want arrived once, and nothing else.
func exactlyOnce(t *testing.T, account string, got map[string]int, want map[string]bool) {
	t.Helper()
	missing, dups := 0, 0
	for id := range want {
		if got[id] == 0 {
			missing++
		}
	}
	for id, n := range got {
		if !want[id] {
			t.Errorf("%s: unexpected message %s", account, id)
		}
		dups += n - 1
	}
	if missing > 0 || dups > 0 {
		t.Errorf("%s: %d of %d records lost, %d duplicates", account, missing, len(want), dups)
	}
}

// TestChildAccountsDaemon: an MSP's children, found through the Accounts
// API and read with the parent's keys at their own API hostname. Every
// record of every readable child arrives exactly once, tagged with the
// child's id and name; a child whose customer revoked access fails alone
// (reported by name, /readyz stays ready and lists it); a rate-limited
// child slows only itself; a child added while running is picked up
// without a restart, and a child removed stops being read.
func TestChildAccountsDaemon(t *testing.T) {
	bin := binary(t)
	srv := duotest.New(t)
	broker := kafkatest.NewBroker(t, 2, topics...)
	names := map[string]string{"DA1": "Alpha Corp", "DA2": "Bravo Ltd", "DA3": "Charlie GmbH", "DA4": "Delta Inc", "DA5": "Echo Test"}
	want := map[string]map[string]bool{}
	for i, id := range []string{"DA1", "DA2", "DA3", "DA5"} {
		srv.AddChild(id, names[id])
		want[id] = childRecords(srv, id, uint64(100+i), 150)
	}
	srv.SetRevoked("DA2", true)
	srv.Inject(duotest.Fault{Account: "DA3", Status: http.StatusTooManyRequests, Count: 6})

	addr := freeAddr(t)
	cfg := mspConfig(t, srv, broker.Addr, 1000, `
  retry: {initial_backoff: 10ms, max_backoff: 100ms, max_attempts: 50}
  child_accounts: {enabled: true, refresh: 1s, exclude: ["Echo*"]}
schedule: "@every 1s"
jitter: 0s
http: {listen: "`+addr+`"}
`)

	check := exec.Command(bin, "config", "check", "--config", cfg)
	out, err := check.CombinedOutput()
	for _, want := range []string{
		"duo.child_accounts: ok: 4 child accounts listed, 3 chosen by include/exclude",
		"account Alpha Corp: duo: ok",
		"account Bravo Ltd: duo: FAILED",
		"child account DA2 refused the parent's Accounts API application",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config check lacks %q:\n%s", want, out)
		}
	}
	if err == nil {
		t.Error("config check passed with a revoked child")
	}

	cmd, stderr := startDaemon(t, bin, nil, "run", "--config", cfg)
	get := func(path string) (int, string) { return httpGet(addr, path) }
	delivered := func(ids ...string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		recs, err := kafkatest.ReadAll(ctx, broker.Addr, topics...)
		if err != nil {
			return false
		}
		got := byAccount(t, recs, names)
		for _, id := range ids {
			if len(got[id]) < len(want[id]) {
				return false
			}
		}
		return true
	}
	waitFor(t, func() bool { return delivered("DA1", "DA3") })
	waitFor(t, func() bool {
		code, body := get("/readyz")
		var report struct {
			AccountsReady int                        `json:"accounts_ready"`
			Failing       map[string]json.RawMessage `json:"failing_accounts"`
		}
		json.Unmarshal([]byte(body), &report)
		_, bravo := report.Failing["Bravo Ltd"]
		return code == 200 && report.AccountsReady == 2 && len(report.Failing) == 1 && bravo
	})
	if !strings.Contains(stderr.String(), "account=\"Bravo Ltd\"") || !strings.Contains(stderr.String(), "40301") {
		t.Errorf("the revoked child is not reported by name:\n%s", tail(stderr.String(), 2000))
	}
	_, metricsBody := get("/metrics")
	for _, m := range []string{`duo_connector_cursor_lag_seconds{account="Alpha Corp",log="auth"}`, `duo_connector_polls_total{account="Bravo Ltd",log="auth",result="error"}`, `duo_connector_accounts{state="failing"} 1`} {
		if !strings.Contains(metricsBody, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	// A new customer, found at the next listing; a customer leaving. Its
	// records exist before it is listed: a poll of the new child before
	// them would rightly move its cursors past records written into the
	// past.
	want["DA4"] = childRecords(srv, "DA4", 104, 150)
	srv.AddChild("DA4", names["DA4"])
	waitFor(t, func() bool { return delivered("DA4") })
	srv.RemoveChild("DA3")
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "child account no longer listed") })
	childRecords(srv, "DA3", 999, 5) // written after it left: not read
	time.Sleep(3 * time.Second)      // three polls of everyone else

	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		os.WriteFile("/tmp/child-stderr.log", []byte(stderr.String()), 0o644)
		t.Fatalf("exit: %v\n%s", err, tail(stderr.String(), 3000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, broker.Addr, topics...)
	if err != nil {
		t.Fatal(err)
	}
	got := byAccount(t, recs, names)
	for _, id := range []string{"DA1", "DA3", "DA4"} {
		exactlyOnce(t, id, got[id], want[id])
	}
	for _, id := range []string{"DA2", "DA5"} {
		if len(got[id]) > 0 {
			t.Errorf("%s (%s): %d messages from a child that is revoked or excluded", id, names[id], len(got[id]))
		}
	}
}

// startDaemon starts the connector binary with args (and extra
// environment), kills it at the test's end, and prints its log when the
// test failed.
func startDaemon(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("connector log:\n%s", tail(stderr.String(), 6000))
		}
	})
	return cmd, stderr
}

// mspConfig writes a configuration reading srv's children into broker,
// with the parent's keys and rps requests per second per child; extra
// continues the duo section (indented) and may add top-level keys after
// it.
func mspConfig(tb testing.TB, srv *duotest.Server, broker string, rps float64, extra string) string {
	tb.Helper()
	skey := filepath.Join(tb.TempDir(), "skey")
	os.WriteFile(skey, []byte(srv.SKey), 0o600)
	cfg := filepath.Join(tb.TempDir(), "c.yaml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
kafka: {brokers: [%s], topic: "duo.{dataset}"}
state_dir: %s
duo:
  api_host: %s
  ikey: %s
  skey_file: %s
  ca_file: %s
  requests_per_second: %g%s`, broker, tb.TempDir(), srv.Host, srv.IKey, skey, srv.CAFile, rps, extra)), 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// httpGet returns the status and body of a GET of path at addr (status 0
// and the error when it fails).
func httpGet(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestExplicitAccounts: two Duo deployments, each with keys of its own
// (one secret from a file, one from its environment variable), to topics
// named after the account; config check says one line per account;
// checkpoint show and reset work on one account by name.
func TestExplicitAccounts(t *testing.T) {
	bin := binary(t)
	east := duotest.New(t, duotest.WithKeys("DIEAST0000000000000", "east-secret"))
	west := duotest.New(t, duotest.WithKeys("DIWEST0000000000000", "west-secret"))
	wantEast := childRecords(east, "", 201, 300)
	wantWest := childRecordsOf(west, "", 202, 300, duo.Auth, duo.Admin, duo.Offline, duo.Telephony) // its logs: below
	var accountTopics []string
	for _, a := range []string{"east", "west"} {
		for _, lt := range duo.DefaultLogTypes {
			accountTopics = append(accountTopics, "duo."+a+"."+lt.EventType())
		}
	}
	broker, err := kafkatest.Start(2, accountTopics, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Stop)
	stateDir := t.TempDir()
	eastKey := filepath.Join(t.TempDir(), "east.skey")
	os.WriteFile(eastKey, []byte("east-secret\n"), 0o600)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
duo:
  ca_file: %s
  requests_per_second: 1000
  retry: {initial_backoff: 10ms, max_backoff: 100ms, max_attempts: 50}
accounts:
  - {name: east, api_host: %s, ikey: %s, skey_file: %s}
  - {name: west, api_host: %s, ikey: %s, logs: [auth, admin, offline, telephony]}
state_dir: %s
kafka: {brokers: [%s], topic: "duo.{account}.{dataset}"}
`, east.CAFile, east.Host, east.IKey, eastKey, west.Host, west.IKey, stateDir, broker.Addr)), 0o600)
	trustBoth(t, cfg, east, west)
	env := append(os.Environ(), "DUO_CONNECTOR_ACCOUNTS_WEST_SKEY=west-secret")

	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("config", "check", "--config", cfg)
	if err != nil || !strings.Contains(out, "account east: duo: ok") || !strings.Contains(out, "account west: duo: ok") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	if out, err := run("run", "--once", "--config", cfg); err != nil {
		t.Fatalf("run --once: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, broker.Addr, accountTopics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if !strings.HasPrefix(r.Topic, "duo.east.") && !strings.HasPrefix(r.Topic, "duo.west.") {
			t.Fatalf("message in topic %s", r.Topic)
		}
	}
	got := byAccount(t, recs, nil)
	exactlyOnce(t, "east", got[east.Host], wantEast)
	exactlyOnce(t, "west", got[west.Host], wantWest)

	// A backfill of one account, then of all: the second reads only the
	// account the first did not finish.
	if out, err := run("backfill", "--config", cfg, "--since", "21h", "--accounts", "east"); err != nil {
		t.Fatalf("backfill --accounts east: %v\n%s", err, out)
	}
	if out, err := run("backfill", "--config", cfg, "--since", "21h", "--accounts", "east"); err != nil || !strings.Contains(out, "already finished") {
		t.Fatalf("the same backfill again: %v\n%s", err, out)
	}
	if out, err := run("backfill", "--config", cfg, "--since", "21h"); err != nil {
		t.Fatalf("backfill of every account: %v\n%s", err, out)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if recs, err = kafkatest.ReadAll(ctx2, broker.Addr, accountTopics...); err != nil {
		t.Fatal(err)
	}
	got = byAccount(t, recs, nil)
	for name, c := range map[string]struct {
		got  map[string]int
		want map[string]bool
	}{"east": {got[east.Host], wantEast}, "west": {got[west.Host], wantWest}} {
		for id := range c.want {
			if c.got[id] != 2 { // the run's copy and the backfill's
				t.Errorf("%s: %s published %d times by the run and the backfills, want 2", name, id, c.got[id])
				break
			}
		}
	}

	out, err = run("checkpoint", "show", "--config", cfg, "--account", "west")
	if err != nil || strings.Contains(out, east.Host) || strings.Count(out, west.Host) != 4 {
		t.Fatalf("checkpoint show --account west: %v\n%s", err, out)
	}
	if out, err := run("checkpoint", "reset", "--config", cfg, "--logs", "auth", "--yes"); err == nil || !strings.Contains(out, "--account") {
		t.Fatalf("reset without --account among several: %v\n%s", err, out)
	}
	if out, err := run("checkpoint", "reset", "--config", cfg, "--logs", "auth", "--account", "west", "--yes"); err != nil || !strings.Contains(out, west.Host) {
		t.Fatalf("reset --account west: %v\n%s", err, out)
	}
	out, _ = run("checkpoint", "show", "--config", cfg)
	if strings.Count(out, west.Host) != 3 || strings.Count(out, east.Host) != len(duo.DefaultLogTypes) {
		t.Fatalf("after resetting west's auth:\n%s", out)
	}

	// A damaged cursor of one of several accounts: the hint resets exactly it.
	damaged := checkpoint.FilePath(stateDir, checkpoint.Key{Account: west.Host, Log: "admin"})
	os.WriteFile(damaged, []byte("garbage"), 0o600)
	out, err = run("run", "--once", "--config", cfg)
	i := strings.Index(out, "duo-connector checkpoint reset")
	if err == nil || i < 0 {
		t.Fatalf("damaged cursor: %v\n%s", err, out)
	}
	hint := strings.Fields(out[i : strings.Index(out[i:], "<file>")+i+len("<file>")])
	if !slices.Contains(hint, west.Host) {
		t.Fatalf("the hint does not name the account: %q", hint)
	}
	for j, f := range hint {
		if f == "<file>" {
			hint[j] = cfg
		}
	}
	if out, err := run(hint[1:]...); err != nil {
		t.Fatalf("following the hint %q: %v\n%s", hint, err, out)
	}
	if _, err := os.Stat(damaged); !os.IsNotExist(err) {
		t.Fatalf("the damaged cursor is still there: %v", err)
	}
	eastCursor, _ := os.ReadFile(checkpoint.FilePath(stateDir, checkpoint.Key{Account: east.Host, Log: "admin"}))
	if len(eastCursor) == 0 {
		t.Fatal("the hint reset the other account's cursor")
	}
}

// polled waits until srv has seen requests for account (an MSP child's id,
// "" for the keys' own account) after since, and fails if none come.
func polled(t *testing.T, srv *duotest.Server, account string, since time.Time, log func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range srv.Requests() {
			if r.Account == account && r.Time.After(since) && r.Status == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("account %q not polled since %s:\n%s", account, since.Format(time.RFC3339Nano), tail(log(), 4000))
}

// TestDiscoveryKeepsOtherAccounts: the child listing's refresh stops only
// the children that left it. An explicit account beside discovery keeps
// being read (issue 19, item 3), and so does a child chosen with --accounts
// when another chosen child leaves the listing (item 4).
func TestDiscoveryKeepsOtherAccounts(t *testing.T) {
	bin := binary(t)
	srv := duotest.New(t)
	own := duotest.New(t, duotest.WithKeys("DIOWN00000000000000", "own-secret"))
	broker := kafkatest.NewBroker(t, 2, topics...)
	srv.AddChild("DA1", "Alpha Corp")
	srv.AddChild("DA2", "Bravo Ltd")
	ownKey := filepath.Join(t.TempDir(), "own.skey")
	os.WriteFile(ownKey, []byte("own-secret"), 0o600)
	cfg := mspConfig(t, srv, broker.Addr, 1000, fmt.Sprintf(`
  retry: {initial_backoff: 10ms, max_backoff: 100ms, max_attempts: 50}
  child_accounts: {enabled: true, refresh: 1s}
accounts:
  - {name: own, api_host: %s, ikey: DIOWN00000000000000, skey_file: %s}
logs: [auth]
schedule: "@every 1s"
jitter: 0s
`, own.Host, ownKey))
	trustBoth(t, cfg, srv, own)
	start := func(args ...string) (*exec.Cmd, *syncBuffer) {
		return startDaemon(t, bin, nil, append([]string{"run", "--config", cfg}, args...)...)
	}

	cmd, stderr := start()
	polled(t, own, "", time.Now(), stderr.String)
	time.Sleep(3 * time.Second) // three listings
	polled(t, own, "", time.Now(), stderr.String)
	cmd.Process.Kill()
	cmd.Wait()

	_, stderr = start("--accounts", "Alpha Corp,Bravo Ltd")
	polled(t, srv, "DA1", time.Now(), stderr.String)
	srv.RemoveChild("DA2")
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "child account no longer listed") })
	time.Sleep(2 * time.Second)
	polled(t, srv, "DA1", time.Now(), stderr.String)
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "child account no longer listed") && !strings.Contains(line, "Bravo Ltd") {
			t.Fatalf("a child still listed was stopped: %s", line)
		}
	}
}

// TestMissingTopicFailsOnlyItsAccount: with the {account} topic template,
// a new customer whose topic does not exist yet fails that customer's logs
// only, named with the topic and the fix, while every other account is
// read; the daemon stays up, and creating the topic heals it (issue 19,
// item 5: the first publish was fatal to the whole daemon).
func TestMissingTopicFailsOnlyItsAccount(t *testing.T) {
	bin := binary(t)
	srv := duotest.New(t)
	names := map[string]string{"DA1": "Alpha Corp", "DA2": "Bravo Ltd"}
	want := map[string]map[string]bool{}
	for i, id := range []string{"DA1", "DA2"} {
		srv.AddChild(id, names[id])
		recs := duotest.NewGenerator(uint64(300+i)).Fill(duo.Auth, time.Now().Add(-20*time.Hour), time.Now().Add(-10*time.Minute), 120)
		srv.AddForAccount(id, recs...)
		want[id] = map[string]bool{}
		for _, r := range recs {
			want[id][eventID(r)] = true
		}
	}
	broker := kafkatest.NewBroker(t, 1, "duo.DA1.auth_log")
	addr := freeAddr(t)
	cfg := mspConfig(t, srv, broker.Addr, 1000, `
  retry: {initial_backoff: 10ms, max_backoff: 100ms, max_attempts: 50}
  child_accounts: {enabled: true, refresh: 1h}
logs: [auth]
schedule: "@every 1s"
jitter: 0s
http: {listen: "`+addr+`"}
`)
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(data), `topic: "duo.{dataset}"`, `topic: "duo.{account}.{dataset}"`, 1)), 0o600)
	cmd, stderr := startDaemon(t, bin, nil, "run", "--config", cfg)
	read := func(topic string) map[string]int {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		recs, _ := kafkatest.ReadAll(ctx, broker.Addr, topic)
		got := map[string]int{}
		for _, r := range recs {
			got[string(r.Key)]++
		}
		return got
	}
	waitFor(t, func() bool { return len(read("duo.DA1.auth_log")) >= len(want["DA1"]) })
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "topic duo.DA2.auth_log") })
	code, body := httpGet(addr, "/readyz")
	if code != http.StatusOK || !strings.Contains(body, `"Bravo Ltd"`) || !strings.Contains(body, "create it") {
		t.Errorf("/readyz %d does not name the failing account and the fix: %s", code, body)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatal("the daemon exited over one account's topic")
	}

	// Creating the topic heals the account at its next poll.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "duo.DA2.auth_log"); err != nil || resp.Err != nil {
		t.Fatal(err, resp.Err)
	}
	waitFor(t, func() bool { return len(read("duo.DA2.auth_log")) >= len(want["DA2"]) })
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	for id, topic := range map[string]string{"DA1": "duo.DA1.auth_log", "DA2": "duo.DA2.auth_log"} {
		got := read(topic)
		for key := range want[id] {
			if got[key] != 1 {
				t.Fatalf("%s: record %s published %d times", id, key, got[key])
			}
		}
	}
}

// trustBoth makes the configuration at cfg, which names a's CA file,
// trust the certificates of both fakes (each has its own).
func trustBoth(t *testing.T, cfg string, a, b *duotest.Server) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pa, _ := os.ReadFile(a.CAFile)
	pb, _ := os.ReadFile(b.CAFile)
	os.WriteFile(ca, append(pa, pb...), 0o600)
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(data), a.CAFile, ca, 1)), 0o600)
}
