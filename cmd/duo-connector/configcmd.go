package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/publish"
)

func runConfig(args []string, e env) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "keys") {
		fmt.Fprint(e.stderr, `Usage: duo-connector config check --config FILE
       duo-connector config keys

check validates the configuration, then makes one signed Duo request and
one Kafka metadata request, and says in plain words what works and what
does not. keys lists every configuration key with its environment variable
and default.
`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	if args[0] == "keys" {
		return printKeys(e)
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := configFlag(fs, e)
	if code := parseFlags(fs, args[1:]); code >= 0 {
		return code
	}
	cfg, ok := loadConfig(*cfgPath, e, "config check")
	if !ok {
		fmt.Fprintln(e.stdout, "configuration: FAILED (see above)")
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "configuration: ok (%s)\n", *cfgPath)
	failed := false
	if err := checkpoint.CheckDir(cfg.StateDir); err != nil {
		failed = true
		fmt.Fprintf(e.stdout, "state_dir: FAILED: %v\n", err)
	} else {
		fmt.Fprintf(e.stdout, "state_dir: ok: %s is writable\n", cfg.StateDir)
	}
	accts, duoOK := checkDuo(cfg, e.stdout)
	if !duoOK {
		failed = true
	}
	topics := cfg.Topics(accts)
	if err := checkKafka(cfg, topics); err != nil {
		failed = true
		fmt.Fprintf(e.stdout, "kafka: FAILED: %v\n", err)
	} else {
		fmt.Fprintf(e.stdout, "kafka: ok: brokers %s reachable, topics %s exist\n", strings.Join(cfg.Kafka.Brokers, ","), strings.Join(topics, ","))
	}
	if cfg.Checkpoint.Store == "kafka" {
		if line, err := checkClusterState(cfg); err != nil {
			failed = true
			fmt.Fprintf(e.stdout, "checkpoint: FAILED: %v\n", err)
		} else {
			fmt.Fprintf(e.stdout, "checkpoint: ok: %s\n", line)
		}
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

// checkDuo proves the keys and the "Grant read log" permission of each
// account with one signed request, then asks each of its logs' endpoints
// on its own (an account may lack one: Trust Monitor needs an edition,
// the activity log is in preview). With one account it prints a line for
// the account and one per log; with several (or an MSP's children), one
// line per account. It returns the accounts and whether all passed.
func checkDuo(cfg config.Config, out io.Writer) ([]accounts.Account, bool) {
	all := cfg.Accounts()
	parent, filter, discover := cfg.Discovery()
	dc := cfg.DuoConfig(nil)
	if !discover && len(all) > 0 {
		dc.APIHost, dc.IKey, dc.SKey, dc.AccountID = all[0].APIHost, all[0].IKey, all[0].SKey, all[0].ID
	}
	base, err := duo.NewClient(dc)
	if err != nil {
		fmt.Fprintf(out, "duo: FAILED: %v\n", err)
		return all, false
	}
	ok := true
	if discover {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		list, err := base.ChildAccounts(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "duo.child_accounts: FAILED: %v\n", err)
			return all, false
		}
		children := accounts.Children(list, parent, filter)
		fmt.Fprintf(out, "duo.child_accounts: ok: %d child accounts listed, %d chosen by include/exclude\n", len(list), len(children))
		all = append(all, children...)
	}
	if len(all) == 1 && !discover {
		return all, checkAccount(base, all[0], cfg, out)
	}
	lines := make([]string, len(all))
	results := make([]bool, len(all))
	sem := make(chan struct{}, cfg.ConcurrentPolls)
	var wg sync.WaitGroup
	for i, a := range all {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var b strings.Builder
			client, err := base.ForAccount(a.DuoAccount())
			if err != nil {
				fmt.Fprintf(&b, "account %s: FAILED: %v\n", a.Label(), err)
			} else {
				results[i] = checkAccount(client, a, cfg, &accountLine{w: &b, label: a.Label()})
			}
			lines[i] = b.String()
		})
	}
	wg.Wait()
	for i, l := range lines {
		io.WriteString(out, l)
		ok = ok && results[i]
	}
	return all, ok
}

// accountLine folds checkAccount's lines of one account into one.
type accountLine struct {
	w     io.Writer
	label string
	parts []string
}

func (l *accountLine) Write(p []byte) (int, error) {
	l.parts = append(l.parts, strings.TrimSpace(string(p)))
	return len(p), nil
}

// checkAccount checks one account with its client: one line for the
// account, one per log; an accountLine folds them into one.
func checkAccount(client *duo.Client, a accounts.Account, cfg config.Config, out io.Writer) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := client.Check(ctx)
	cancel()
	defer func() {
		if l, ok := out.(*accountLine); ok {
			fmt.Fprintf(l.w, "account %s: %s\n", l.label, strings.Join(l.parts, "; "))
		}
	}()
	if err != nil {
		fmt.Fprintf(out, "duo: FAILED: %v\n", err)
		return false
	}
	fmt.Fprintf(out, "duo: ok: signed request to %s accepted, \"Grant read log\" present\n", a.APIHost)
	ok := true
	for _, lt := range a.Logs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := duolog.Probe(ctx, client, lt, cfg.Duo.TelephonyV1)
		cancel()
		if err != nil {
			ok = false
			fmt.Fprintf(out, "log %s: NOT AVAILABLE: %v\n", lt, err)
		} else {
			fmt.Fprintf(out, "log %s: ok\n", lt)
		}
	}
	return ok
}

// checkKafka proves the brokers, TLS, SASL and topics with one metadata
// request.
func checkKafka(cfg config.Config, topics []string) error {
	pub, err := publish.New(cfg.PublishConfig(nil))
	if err != nil {
		return err
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return pub.Check(ctx, topics...)
}

// printKeys lists every key, its environment variable and its default.
func printKeys(e env) int {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tENVIRONMENT VARIABLE\tDEFAULT")
	for _, k := range config.Keys() {
		def := k.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Path, k.Env, def)
	}
	tw.Flush()
	return exitOK
}
