package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/publish"
)

// Finding is one thing CheckConfig tried, and how it went.
type Finding struct {
	// Subject is what was tried: state_dir, duo, duo.child_accounts,
	// log auth, account NAME, kafka, checkpoint.
	Subject string
	// Status is "ok", "FAILED", "NOT AVAILABLE" (a log the account
	// lacks: skipped by the connector, not a failure) or "WARNING" (a
	// setting that works but is risky: not a failure).
	Status string
	// Detail is what was proven, or what is wrong and its fix.
	Detail string
	// Parts are an account's own findings, when there are several
	// accounts (one line each).
	Parts []Finding
}

// OK reports whether the finding and its parts are ok.
func (f Finding) OK() bool {
	for _, p := range f.Parts {
		if !p.OK() {
			return false
		}
	}
	return f.Status == "ok" || f.Status == "WARNING" || f.Status == "NOT AVAILABLE" || f.Status == "" && len(f.Parts) > 0
}

func (f Finding) String() string {
	if len(f.Parts) > 0 {
		parts := make([]string, len(f.Parts))
		for i, p := range f.Parts {
			parts[i] = p.String()
		}
		return f.Subject + ": " + strings.Join(parts, "; ")
	}
	if f.Detail == "" {
		return f.Subject + ": " + f.Status
	}
	return f.Subject + ": " + f.Status + ": " + f.Detail
}

func ok(subject, format string, args ...any) Finding {
	return Finding{Subject: subject, Status: "ok", Detail: fmt.Sprintf(format, args...)}
}

func failed(subject string, err error) Finding {
	return Finding{Subject: subject, Status: "FAILED", Detail: err.Error()}
}

// CheckConfig tries, once each, what the configuration needs: the state
// directory, each account's keys and logs (an MSP's children listed
// first), the Kafka brokers and topics, and in cluster mode the state
// topic. It runs beside a running daemon: it takes no lock.
func CheckConfig(ctx context.Context, cfg config.Config) []Finding {
	var out []Finding
	for _, w := range cfg.Warnings() {
		key, why, _ := strings.Cut(w, ": ")
		out = append(out, Finding{Subject: key, Status: "WARNING", Detail: why})
	}
	if err := checkpoint.CheckDir(cfg.StateDir); err != nil {
		out = append(out, failed("state_dir", err))
	} else {
		out = append(out, ok("state_dir", "%s is writable", cfg.StateDir))
	}
	if cfg.HTTP.Listen != "" {
		out = append(out, checkListen(cfg.HTTP.Listen))
	}
	accts, duoFindings := checkDuo(ctx, cfg)
	out = append(out, duoFindings...)
	topics := cfg.Topics(accts)
	if err := checkKafka(ctx, cfg, topics); err != nil {
		out = append(out, failed("kafka", err))
	} else {
		out = append(out, ok("kafka", "brokers %s reachable, topics %s exist", strings.Join(cfg.Kafka.Brokers, ","), strings.Join(topics, ",")))
	}
	if cfg.Checkpoint.Store == "kafka" {
		if line, err := checkState(ctx, cfg); err != nil {
			out = append(out, failed("checkpoint", err))
		} else {
			out = append(out, ok("checkpoint", "%s", line))
		}
	}
	return out
}

// checkDuo proves the keys and the "Grant read log" permission of each
// account with one signed request, then asks each of its logs' endpoints
// on its own (an account may lack one: Trust Monitor needs an edition,
// the activity log is in preview). With several accounts (or an MSP's
// children) each account's findings are the Parts of one.
func checkDuo(ctx context.Context, cfg config.Config) ([]accounts.Account, []Finding) {
	all := cfg.Accounts()
	parent, filter, discover := cfg.Discovery()
	base, err := duoClient(cfg, nil, nil, nil)
	if err != nil {
		return all, []Finding{failed("duo", err)}
	}
	var out []Finding
	if discover {
		lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		list, err := base.ChildAccounts(lctx)
		cancel()
		if err != nil {
			return all, []Finding{failed("duo.child_accounts", err)}
		}
		children := accounts.Children(list, parent, filter)
		out = append(out, ok("duo.child_accounts", "%d child accounts listed, %d chosen by include/exclude", len(list), len(children)))
		all = append(all, children...)
	}
	if len(all) == 1 && !discover {
		return all, checkAccount(ctx, base, all[0], cfg)
	}
	found := make([]Finding, len(all))
	sem := make(chan struct{}, cfg.ConcurrentPolls)
	var wg sync.WaitGroup
	for i, a := range all {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			subject := "account " + a.Label()
			client, err := base.ForAccount(a.DuoAccount())
			if err != nil {
				found[i] = failed(subject, err)
				return
			}
			found[i] = Finding{Subject: subject, Parts: checkAccount(ctx, client, a, cfg)}
		})
	}
	wg.Wait()
	return all, append(out, found...)
}

// checkAccount checks one account with its client: a finding for its
// keys, one per log.
func checkAccount(ctx context.Context, client *duo.Client, a accounts.Account, cfg config.Config) []Finding {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := client.Check(cctx)
	cancel()
	if err != nil {
		return []Finding{failed("duo", err)}
	}
	out := []Finding{ok("duo", "signed request to %s accepted, \"Grant read log\" present", a.APIHost)}
	for _, lt := range a.Logs {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := duolog.CheckLog(cctx, client, lt, cfg.Duo.TelephonyV1)
		cancel()
		_, unavailable := duo.Unavailable(err)
		switch {
		case unavailable:
			out = append(out, Finding{Subject: "log " + string(lt), Status: "NOT AVAILABLE",
				Detail: err.Error() + " (the connector skips this log for this account and asks again hourly; not a failure)"})
		case err != nil:
			out = append(out, failed("log "+string(lt), err))
		default:
			out = append(out, Finding{Subject: "log " + string(lt), Status: "ok"})
		}
	}
	return out
}

// checkKafka proves the brokers, TLS, SASL and topics with one metadata
// request.
func checkKafka(ctx context.Context, cfg config.Config, topics []string) error {
	pub, err := publish.New(cfg.PublishConfig(nil))
	if err != nil {
		return err
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return pub.Check(ctx, topics...)
}

// checkListen binds http.listen for a moment. In use is a warning, not a
// failure: it is likely the running connector's own listener.
func checkListen(addr string) Finding {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return Finding{Subject: "http.listen", Status: "WARNING", Detail: fmt.Sprintf("%s is in use: by the running connector, or by another program (then the connector cannot start: use another address)", addr)}
	case err != nil:
		return failed("http.listen", fmt.Errorf("%s cannot be listened on: %v", addr, withoutOp(err)))
	}
	ln.Close()
	return ok("http.listen", "%s can be listened on", addr)
}

// withoutOp is a net error without its "listen tcp" prefix.
func withoutOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}
