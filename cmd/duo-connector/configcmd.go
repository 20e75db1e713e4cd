package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
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
	if err := checkDuo(cfg); err != nil {
		failed = true
		fmt.Fprintf(e.stdout, "duo: FAILED: %v\n", err)
	} else {
		fmt.Fprintf(e.stdout, "duo: ok: signed request to %s accepted, \"Grant read log\" present\n", cfg.Duo.APIHost)
	}
	topics := cfg.Topics()
	if err := checkKafka(cfg, topics); err != nil {
		failed = true
		fmt.Fprintf(e.stdout, "kafka: FAILED: %v\n", err)
	} else {
		fmt.Fprintf(e.stdout, "kafka: ok: brokers %s reachable, topics %s exist\n", strings.Join(cfg.Kafka.Brokers, ","), strings.Join(topics, ","))
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

// checkDuo makes the cheapest request that proves the keys and the "Grant
// read log" permission: one auth log record from a one-minute window.
func checkDuo(cfg config.Config) error {
	dc := cfg.DuoConfig(nil)
	dc.Retry = duo.RetryConfig{InitialBackoff: time.Second, MaxBackoff: time.Second, MaxAttempts: 2}
	dc.Timeout = 20 * time.Second
	client, err := duo.NewClient(dc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	end := time.Now().Add(-5 * time.Minute)
	_, err = client.Get(ctx, duo.PathAuthV2, url.Values{
		"mintime": {strconv.FormatInt(end.Add(-time.Minute).UnixMilli(), 10)},
		"maxtime": {strconv.FormatInt(end.UnixMilli(), 10)},
		"limit":   {"1"},
	})
	var apiErr *duo.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr):
		return err // carries Duo's code and the fix
	case strings.Contains(err.Error(), "certificate"):
		return fmt.Errorf("%w: Duo's certificate was not trusted; behind a TLS-intercepting proxy set duo.ca_file to its CA bundle", err)
	}
	return fmt.Errorf("%w: check duo.api_host, DNS, the network path to Duo, and duo.proxy / HTTPS_PROXY", err)
}

func checkKafka(cfg config.Config, topics []string) error {
	pub, err := publish.New(cfg.PublishConfig(nil))
	if err != nil {
		return err
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = pub.Ping(ctx, topics...)
	if err == nil {
		return nil
	}
	var fe *publish.FatalError
	if errors.As(err, &fe) {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "EOF"):
		return fmt.Errorf("%w: the broker closed the connection: check kafka.sasl (mechanism, username, password) and kafka.tls.enabled", err)
	case strings.Contains(msg, "refused") || strings.Contains(msg, "no such host") || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no broker answered: check kafka.brokers and the network", err)
	}
	return err
}

// printKeys lists every key, its environment variable and its default.
func printKeys(e env) int {
	defaults := map[string]string{}
	def := reflect.ValueOf(config.Default())
	for _, k := range config.Keys() {
		v := def
		for _, part := range strings.Split(k[0], ".") {
			v = fieldByTag(v, part)
		}
		defaults[k[0]] = formatDefault(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tENVIRONMENT VARIABLE\tDEFAULT")
	for _, k := range config.Keys() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k[0], k[1], defaults[k[0]])
	}
	tw.Flush()
	return exitOK
}

func fieldByTag(v reflect.Value, tag string) reflect.Value {
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if name == tag {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

func formatDefault(v reflect.Value) string {
	if v.IsValid() && v.Kind() == reflect.Bool {
		return strconv.FormatBool(v.Bool())
	}
	if !v.IsValid() || v.IsZero() {
		return "-"
	}
	switch x := v.Interface().(type) {
	case config.Duration:
		return x.D().String()
	case config.Secret:
		return "-"
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v.Interface())
}
