// Command duo-sandbox runs, on loopback, everything duo-connector needs to
// be tried without Duo credentials or a Kafka cluster: a fake Duo Admin API
// (TLS, with a backlog of realistic records and new ones arriving
// continuously) and an in-process Kafka broker, plus a ready configuration.
//
// With --demo it also runs the connector until the backlog is drained,
// reads the topics back, prints a few normalized documents and the counts
// per log type, and stops everything.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

var topics = []string{"duo.auth_log", "duo.admin_log", "duo.offline_log", "duo.telephony_log", "duo.activity_log", "duo.trust_monitor_event"}

// perDay is how many records of each log the backlog holds per day.
var perDay = map[duo.LogType]int{duo.Auth: 6000, duo.Admin: 400, duo.Offline: 150, duo.Telephony: 1500, duo.Activity: 800, duo.TrustMonitor: 20}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("duo-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for the configuration, secret and cursors (default: a new temporary one)")
	days := fs.Float64("days", 1, "backlog: days of records already waiting in the fake Duo")
	rate := fs.Float64("rate", 2, "new records per second arriving in the fake Duo, across its logs")
	demo := fs.Bool("demo", false, "run the connector until the backlog is drained, show the results, and stop")
	connector := fs.String("connector", "bin/duo-connector", "with --demo: the connector binary to run")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed of the generated records")
	logsFlag := fs.String("logs", "auth,admin,offline,telephony,activity", "the logs the fake Duo holds and the configuration reads (add trust_monitor for the opt-in one)")
	children := fs.Int("children", 0, "an MSP: the keys are a parent's, with this many child accounts, each with its own backlog")
	revoked := fs.Int("revoked", 0, "with --children: this many of them have revoked the parent's access (their logs fail, the others are read)")
	late := fs.Int("late", 0, "with --children: this many more children appear 90 s after the start (found at the next listing)")
	faults := fs.Bool("faults", false, "every 20 s, a run of 429s and 503s from the fake Duo (the connector retries them)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: duo-sandbox [--demo] [--days N] [--rate R] [--dir D] [--logs auth,...] [--children N [--revoked K] [--late L]] [--faults]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	switch {
	case *days < 0 || *days > 179:
		fmt.Fprintln(stderr, "duo-sandbox: --days must be 0 to 179 (Duo keeps 180 days)")
		return 2
	case *rate < 0:
		fmt.Fprintln(stderr, "duo-sandbox: --rate must not be negative")
		return 2
	case *children < 0 || *revoked < 0 || *late < 0 || *revoked > *children:
		fmt.Fprintln(stderr, "duo-sandbox: --children, --revoked and --late must not be negative, and --revoked at most --children")
		return 2
	case (*revoked > 0 || *late > 0) && *children == 0:
		fmt.Fprintln(stderr, "duo-sandbox: --revoked and --late need --children")
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "duo-sandbox-")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintf(stderr, "duo-sandbox: --dir: %v\n", err)
		return 1
	}
	var logs []duo.LogType
	for _, part := range strings.Split(*logsFlag, ",") {
		lt, err := duo.ParseLogType(part)
		if err != nil {
			fmt.Fprintf(stderr, "duo-sandbox: --logs: %v\n", err)
			return 2
		}
		logs = append(logs, lt)
	}
	sb, err := start(*dir, options{days: *days, seed: *seed, logs: logs, children: *children, revoked: *revoked})
	if err != nil {
		fmt.Fprintf(stderr, "duo-sandbox: %v\n", err)
		return 1
	}
	defer sb.stop()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	go sb.generate(ctx, *rate, *seed+1)
	if *late > 0 {
		go sb.addLate(ctx, *late, *days, *seed+2)
	}
	if *faults {
		go sb.injectFaults(ctx)
	}

	fmt.Fprintf(stdout, "fake Duo Admin API: https://%s (backlog: %d records over %g days, +%g records/s)\n", sb.duo.Host, sb.backlog, *days, *rate)
	if *children > 0 {
		fmt.Fprintf(stdout, "                    an MSP: %d child accounts (%d revoked), %d more in 90 s\n", *children, *revoked, *late)
	}
	fmt.Fprintf(stdout, "Kafka broker:       %s (topics %s)\n", sb.kafka.Addr, strings.Join(topics, ", "))
	fmt.Fprintf(stdout, "configuration:      %s\n\n", sb.config)
	if !*demo {
		fmt.Fprintf(stdout, `Run the connector against it:
  bin/duo-connector run --config %s

While it runs, its metrics and health: http://%s/metrics, /readyz
Read a topic back: kcat -b %s -C -t duo.auth_log -e -q | head

Ctrl-C stops the sandbox.
`, sb.config, sb.metrics, sb.kafka.Addr)
		<-ctx.Done()
		return 0
	}
	return sb.runDemo(ctx, *connector, stdout, stderr)
}

// sandbox is a running fake Duo and broker.
type sandbox struct {
	duo     *duotest.Server
	kafka   *kafkatest.Broker
	config  string
	metrics string // the connector's listen address in config
	backlog int    // the records a connector can read (not revoked children's)
	revoked int    // children whose access is revoked
	logs    []duo.LogType
}

// options shape a sandbox.
type options struct {
	days     float64
	seed     uint64
	logs     []duo.LogType
	children int // an MSP's child accounts (0: one account)
	revoked  int // of the children, those whose access is revoked
}

// addrsFile keeps, in a sandbox's directory, the addresses it listened
// on, so that a restart with the same --dir keeps them: the configuration
// and the connector's cursors (keyed by the API host) stay valid.
const addrsFile = "sandbox-addrs.json"

type addrs struct {
	Duo     string `json:"duo"`
	Kafka   string `json:"kafka"`
	Metrics string `json:"metrics"`
}

func start(dir string, o options) (*sandbox, error) {
	days, seed, logs := o.days, o.seed, o.logs
	if len(logs) == 0 {
		logs = duo.DefaultLogTypes
	}
	var prev addrs
	if data, err := os.ReadFile(filepath.Join(dir, addrsFile)); err == nil {
		json.Unmarshal(data, &prev)
	}
	opts := []duotest.Option{duotest.WithoutRequestLog(), duotest.WithSeed(seed)}
	srv, err := duotest.NewServer(append(opts, duotest.WithAddr(prev.Duo))...)
	if err != nil && prev.Duo != "" { // taken meanwhile: a new one
		srv, err = duotest.NewServer(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("fake Duo: %w", err)
	}
	var kopts []kfake.Opt
	if _, port, err := net.SplitHostPort(prev.Kafka); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			kopts = append(kopts, kfake.Ports(p))
		}
	}
	b, err := kafkatest.Start(3, topics, "", kopts...)
	if err != nil && len(kopts) > 0 {
		b, err = kafkatest.Start(3, topics, "")
	}
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("kafka broker: %w", err)
	}
	metrics := prev.Metrics
	if metrics == "" {
		metrics = freeAddr()
	}
	if data, err := json.Marshal(addrs{Duo: srv.Host, Kafka: b.Addr, Metrics: metrics}); err == nil {
		os.WriteFile(filepath.Join(dir, addrsFile), data, 0o600)
	}
	sb := &sandbox{duo: srv, kafka: b, logs: logs, metrics: metrics, revoked: o.revoked}
	gen := duotest.NewGenerator(seed)
	if o.children == 0 {
		sb.backlog += sb.fill(gen, "", days)
	}
	for i := range o.children {
		id := fmt.Sprintf("DA%04d", i+1)
		srv.AddChild(id, fmt.Sprintf("Customer %d", i+1))
		n := sb.fill(gen, id, days)
		if i < o.revoked {
			srv.SetRevoked(id, true)
		} else {
			sb.backlog += n
		}
	}
	// The CA next to the configuration, not in the fake's own temporary
	// directory, which goes with it.
	ca := filepath.Join(dir, "duo-ca.pem")
	if pem, err := os.ReadFile(srv.CAFile); err != nil {
		sb.stop()
		return nil, err
	} else if err := os.WriteFile(ca, pem, 0o600); err != nil {
		sb.stop()
		return nil, err
	}
	skey := filepath.Join(dir, "skey")
	if err := os.WriteFile(skey, []byte(srv.SKey+"\n"), 0o600); err != nil {
		sb.stop()
		return nil, err
	}
	sb.config = filepath.Join(dir, "duo-connector.yaml")
	msp := ""
	if o.children > 0 {
		msp = "  child_accounts: {enabled: true, refresh: 1m}\n"
	}
	cfg := fmt.Sprintf(`# Written by duo-sandbox: the fake Duo and broker on loopback.
duo:
  api_host: %s
  ikey: %s
  skey_file: %s
  ca_file: %s
  requests_per_second: 20
%sinitial_lookback: %s
lag: 2m
schedule: "@every 1m"
logs: [%s]
state_dir: %s
kafka:
  brokers: [%s]
  topic: duo.{dataset}
http:
  listen: %s
`, srv.Host, srv.IKey, skey, ca, msp, time.Duration(days*float64(24*time.Hour)+float64(time.Hour)).Round(time.Second), joinLogs(logs), filepath.Join(dir, "state"), b.Addr, metrics)
	if err := os.WriteFile(sb.config, []byte(cfg), 0o600); err != nil {
		sb.stop()
		return nil, err
	}
	return sb, nil
}

// fill gives an account ("" the keys' own; else a child's id) its backlog
// of every log, and returns its size.
func (sb *sandbox) fill(gen *duotest.Generator, account string, days float64) int {
	now := time.Now()
	from := now.Add(-time.Duration(days * float64(24*time.Hour)))
	total := 0
	for _, lt := range sb.logs {
		n := int(float64(perDay[lt]) * days)
		if n == 0 {
			continue
		}
		recs := gen.Spread(lt, from, now.Add(-3*time.Minute), n)
		if lt == duo.Auth && n > 500 { // a burst: many sign-ins in one second
			recs = append(recs, gen.Burst(lt, now.Add(-time.Hour), 300)...)
		}
		sb.duo.AddForAccount(account, recs...)
		total += len(recs)
	}
	return total
}

// addLate adds n children 90 s after the start, with their backlog.
func (sb *sandbox) addLate(ctx context.Context, n int, days float64, seed uint64) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(90 * time.Second):
	}
	gen := duotest.NewGenerator(seed)
	for i := range n {
		id := fmt.Sprintf("DL%04d", i+1)
		sb.fill(gen, id, days)
		sb.duo.AddChild(id, fmt.Sprintf("Late customer %d", i+1))
	}
}

// injectFaults makes the fake Duo answer a run of 429s and 503s every 20 s.
func (sb *sandbox) injectFaults(ctx context.Context) {
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sb.duo.Inject(duotest.Fault{Status: 429, Count: 3}, duotest.Fault{Status: 503, Count: 2})
		}
	}
}

// freeAddr is a loopback address with a port free now.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

func joinLogs(logs []duo.LogType) string {
	names := make([]string, len(logs))
	for i, lt := range logs {
		names[i] = string(lt)
	}
	return strings.Join(names, ", ")
}

func (sb *sandbox) stop() {
	sb.kafka.Stop()
	sb.duo.Close()
}

// generate adds new records, stamped now, at rate records per second
// across the logs, in the proportions of the backlog.
func (sb *sandbox) generate(ctx context.Context, rate float64, seed uint64) {
	if rate <= 0 {
		return
	}
	gen := duotest.NewGenerator(seed)
	total := 0
	for _, lt := range sb.logs {
		total += perDay[lt]
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	carry := map[duo.LogType]float64{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, lt := range sb.logs {
				carry[lt] += rate * float64(perDay[lt]) / float64(total)
				for ; carry[lt] >= 1; carry[lt]-- {
					sb.duo.Add(gen.Record(lt, now))
				}
			}
		}
	}
}

// runDemo runs the connector once over the backlog and shows the result.
func (sb *sandbox) runDemo(ctx context.Context, connector string, stdout, stderr io.Writer) int {
	if _, err := os.Stat(connector); err != nil {
		fmt.Fprintf(stderr, "duo-sandbox: the connector binary %s is missing (make build): %v\n", connector, err)
		return 1
	}
	fmt.Fprintf(stdout, "$ %s run --once --config %s\n", connector, sb.config)
	start := time.Now()
	cmd := exec.CommandContext(ctx, connector, "run", "--once", "--config", sb.config)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil && sb.revoked == 0 {
		fmt.Fprintf(stderr, "duo-sandbox: the connector failed: %v\n", err)
		return 1
	} else if err != nil {
		fmt.Fprintf(stdout, "(the connector exited with %v: the revoked children's logs failed, as they should; the others were read)\n", err)
	}
	took := time.Since(start)
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(rctx, sb.kafka.Addr, topics...)
	if err != nil {
		fmt.Fprintf(stderr, "duo-sandbox: reading Kafka back: %v\n", err)
		return 1
	}
	counts := map[string]int{}
	examples := map[string][]byte{}
	for _, r := range recs {
		counts[r.Topic]++
		if _, ok := examples[r.Topic]; !ok {
			examples[r.Topic] = r.Value
		}
	}
	fmt.Fprintf(stdout, "\nA few normalized documents, as read back from Kafka:\n")
	names := make([]string, 0, len(examples))
	for t := range examples {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		var pretty bytes.Buffer
		json.Indent(&pretty, examples[t], "  ", "  ")
		fmt.Fprintf(stdout, "\n%s:\n  %s\n", t, pretty.String())
	}
	fmt.Fprintf(stdout, "\nMessages per topic (the connector took %s):\n", took.Round(time.Millisecond))
	total := 0
	for _, t := range topics {
		fmt.Fprintf(stdout, "  %-20s %7d\n", t, counts[t])
		total += counts[t]
	}
	fmt.Fprintf(stdout, "  %-20s %7d of %d records in the backlog (newer ones wait for Duo's 2-minute delay)\n", "total", total, sb.backlog)
	if total < sb.backlog {
		fmt.Fprintln(stderr, "duo-sandbox: fewer messages than records in the backlog")
		return 1
	}
	return 0
}
