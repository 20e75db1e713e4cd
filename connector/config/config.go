// Package config loads the connector's configuration: a YAML file whose
// every key can be overridden by an environment variable, with secrets
// from the file, the environment or *_file keys, defaults for everything
// optional, and a Validate that names each bad key and its fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/duo-connector/duo-connector/connector/accounts"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/internal/redact"
	"github.com/duo-connector/duo-connector/connector/publish"
	"github.com/duo-connector/duo-connector/normalize"
	"github.com/duo-connector/duo-connector/normalize/geoip"
)

// EnvPrefix starts every environment variable that overrides a key:
// kafka.brokers is DUO_CONNECTOR_KAFKA_BROKERS. DUO_CONNECTOR_CONFIG
// names the configuration file.
const EnvPrefix = "DUO_CONNECTOR_"

// Config is the whole configuration.
type Config struct {
	Duo Duo `yaml:"duo"`
	// AccountList are accounts read with keys of their own, besides (or
	// instead of) the one of duo.*.
	AccountList []Account `yaml:"accounts"`
	// Logs are the log types to collect (default all four).
	Logs []string `yaml:"logs"`
	// InitialLookback is how far back a log without a cursor starts.
	InitialLookback Duration `yaml:"initial_lookback"`
	// Lag keeps reads this far behind now (never below Duo's 2 minutes).
	Lag Duration `yaml:"lag"`
	// Schedule is when polls start: a cron spec or @every <duration>.
	Schedule string `yaml:"schedule"`
	// Jitter delays each scheduled poll by up to this much.
	Jitter Duration `yaml:"jitter"`
	// StateDir holds the cursors.
	StateDir string `yaml:"state_dir"`
	// PagesInFlight bounds the pages held in memory at once, across logs.
	PagesInFlight int `yaml:"pages_in_flight"`
	// ConcurrentPolls bounds the polls (one log of one account) running
	// at once.
	ConcurrentPolls int `yaml:"concurrent_polls"`
	// StallTurns is how many turns in a row a log may get answers from
	// Duo without its cursor moving or Duo confirming it caught up before
	// it counts as stalled.
	StallTurns int `yaml:"stall_turns"`
	// ShutdownTimeout bounds how long a stop waits for the page in flight.
	ShutdownTimeout Duration   `yaml:"shutdown_timeout"`
	Normalize       Normalize  `yaml:"normalize"`
	Kafka           Kafka      `yaml:"kafka"`
	Checkpoint      Checkpoint `yaml:"checkpoint"`
	Log             Log        `yaml:"log"`
	HTTP            HTTP       `yaml:"http"`
}

// Duo is the duo section: the Duo client's own configuration (decoded
// into it, keys and defaults its own) and the connector's settings for
// the logs and accounts it reads.
type Duo struct {
	duo.Config  `yaml:",inline"`
	TelephonyV1 bool `yaml:"telephony_v1"`
	// ChildAccounts, when enabled, reads every child account of an MSP:
	// the keys above are then the parent's Accounts API application.
	ChildAccounts ChildAccounts `yaml:"child_accounts"`
}

// ChildAccounts configures the discovery of an MSP's child accounts.
type ChildAccounts struct {
	Enabled bool     `yaml:"enabled"`
	Refresh Duration `yaml:"refresh"`
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// Account is one item of the accounts list: a Duo account with keys of
// its own.
type Account struct {
	Name              string        `yaml:"name"`
	APIHost           string        `yaml:"api_host"`
	IKey              string        `yaml:"ikey"`
	SKey              redact.Secret `yaml:"skey"`
	SKeyFile          string        `yaml:"skey_file"`
	AccountID         string        `yaml:"account_id"`
	Logs              []string      `yaml:"logs"`
	RequestsPerSecond float64       `yaml:"requests_per_second"`
}

// Normalize selects the mapping, and the GeoIP databases the elastic
// mapping enriches addresses from.
type Normalize struct {
	Mapping string       `yaml:"mapping"`
	GeoIP   geoip.Config `yaml:"geoip"`
}

// NormalizeOptions are the normalizer's options; GeoIP reloads are
// logged to logger.
func (c Config) NormalizeOptions(logger *slog.Logger) normalize.Options {
	opts := normalize.Options{Mapping: normalize.Mapping(c.Normalize.Mapping), GeoIP: c.Normalize.GeoIP}
	opts.GeoIP.Logger = logger
	return opts
}

// Kafka is the kafka section: the publisher's own configuration (decoded
// into it, keys and defaults its own) and how messages are stamped.
type Kafka struct {
	publish.Config   `yaml:",inline"`
	MessageTimestamp string `yaml:"message_timestamp"`
}

// Checkpoint chooses where cursors are kept: the state directory's files
// (one process), or a compacted Kafka topic shared by a cluster of
// processes that split the work through a consumer group.
type Checkpoint struct {
	Store             string   `yaml:"store"`
	Topic             string   `yaml:"topic"`
	Partitions        int      `yaml:"partitions"`
	ReplicationFactor int      `yaml:"replication_factor"`
	Group             string   `yaml:"group"`
	SessionTimeout    Duration `yaml:"session_timeout"`
}

// Log configures the connector's own logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Handler is the log handler writing to w, text or JSON at the level set;
// withoutTime leaves the time out (journald stamps lines itself).
// Durations are written as Go durations ("1.5s") in text and JSON alike,
// not JSON's integer nanoseconds.
func (l Log) Handler(w io.Writer, withoutTime bool) slog.Handler {
	var level slog.Level
	level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if withoutTime && len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if a.Value.Kind() == slog.KindDuration {
			return slog.String(a.Key, a.Value.Duration().String())
		}
		return a
	}}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// HTTP configures the metrics and health listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Duration is a time.Duration that reads "90s", "5m", "24h" and "7d".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		// A TypeError lets the decoder go on and report every bad key.
		msg := fmt.Sprintf("line %d: invalid duration %q: use units such as 90s, 5m, 24h, 7d or 1d12h", n.Line, n.Value)
		return &yaml.TypeError{Errors: []string{msg}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration is time.ParseDuration plus a "d" (24h) unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: use a number of days such as 7d, units such as 36h, or both (1d12h)", orig)
		}
		days, s = time.Duration(n*float64(24*time.Hour)), s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use units such as 90s, 5m, 24h, 7d or 1d12h", orig)
	}
	return days + d, nil
}

// Default returns the configuration with every default set. The duo and
// kafka sections start from their packages' defaults, which own them; the
// rest are the connector's own.
func Default() Config {
	return Config{
		Duo: Duo{
			Config:        duo.DefaultConfig(),
			ChildAccounts: ChildAccounts{Refresh: Duration(15 * time.Minute)},
		},
		Logs:            []string{"auth", "admin", "offline", "telephony", "activity"},
		InitialLookback: Duration(24 * time.Hour),
		Lag:             Duration(duolog.DefaultLag),
		Schedule:        "@every 1m",
		Jitter:          Duration(5 * time.Second),
		StateDir:        "/var/lib/duo-connector",
		PagesInFlight:   2,
		ConcurrentPolls: 16,
		StallTurns:      20,
		ShutdownTimeout: Duration(30 * time.Second),
		Normalize:       Normalize{Mapping: string(normalize.V1)},
		Kafka:           Kafka{Config: publish.DefaultConfig(), MessageTimestamp: "event"},
		Log:             Log{Level: "info", Format: "text"},
		Checkpoint: Checkpoint{
			Store: "file", Topic: "duo-connector-state", Partitions: 12, Group: "duo-connector",
			SessionTimeout: Duration(30 * time.Second),
		},
	}
}

// Load reads the file at path (none when empty) over the defaults, applies
// the environment's overrides, reads the secret files and validates.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	var data []byte
	if path != "" {
		var err error
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return cfg, fmt.Errorf("config %s is a directory: give the configuration file", path)
		}
		data, err = os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, unwrapPath(err))
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file
			return cfg, fmt.Errorf("config %s:\n%w", path, explainYAML(err, data))
		}
		var next yaml.Node
		if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config %s: holds more than one YAML document (a second one starts at line %d): the connector reads only one, so merge them or remove the '---' separator", path, next.Line)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	// A secret file that cannot be read is reported with every other bad
	// key, not alone.
	if err := errors.Join(cfg.readSecretFiles(), cfg.Validate()); err != nil {
		err = withLines(err, data, fromEnv(environ))
		if path != "" {
			return cfg, fmt.Errorf("config %s:\n%w", path, err)
		}
		return cfg, fmt.Errorf("config:\n%w", err)
	}
	return cfg, nil
}

// explainYAML rewords yaml.v3's errors to name the key of each, with the
// fix: an unknown key's spelling, or the shape a value must have.
func explainYAML(err error, data []byte) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return explainSyntax(err, data)
	}
	keys := keyLines(data)
	var errs []error
	for _, e := range te.Errors {
		errs = append(errs, errors.New(explainLine(e, keys)))
	}
	return errors.Join(errs...)
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// explainSyntax rewords a YAML syntax error: its line, without the
// parser's name, and a tab used to indent said as such.
func explainSyntax(err error, data []byte) error {
	m := yamlLine.FindStringSubmatch(strings.TrimPrefix(err.Error(), "yaml: "))
	if m == nil {
		return err
	}
	n, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(data), "\n")
	for _, l := range lines[max(0, n-2):min(len(lines), n+1)] { // yaml.v3 may name the line after
		if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
			return fmt.Errorf("line %d: a tab indents a line: YAML allows only spaces for indentation", n)
		}
	}
	return fmt.Errorf("line %s: %s", m[1], m[2])
}

// explainLine rewrites one "line N: ..." error of yaml.v3.
func explainLine(e string, keys map[int]string) string {
	m := yamlLine.FindStringSubmatch(e)
	if m == nil {
		return e
	}
	line, msg := m[1], m[2]
	n, _ := strconv.Atoi(line)
	key := keys[n]
	switch {
	case key == "" && strings.Contains(msg, "into config.Config"):
		return fmt.Sprintf("line %s: the file must be a YAML mapping of keys (duo:, kafka:, ...; see configs/duo-connector.example.yaml), not %s", line, typeGot(msg))
	case strings.Contains(msg, "not found in type"):
		f := strings.Fields(msg)
		name := strings.TrimSuffix(f[1], ":")
		if key == "" {
			key = name
		}
		return fmt.Sprintf("line %s: %s: unknown key (check its spelling and indentation against configs/duo-connector.example.yaml)", line, key)
	case strings.Contains(msg, "cannot unmarshal"):
		return fmt.Sprintf("line %s: %s: %s", line, key, typeHint(msg))
	}
	return fmt.Sprintf("line %s: %s: %s", line, key, msg)
}

// typeGot is the value yaml.v3's "cannot unmarshal !!str `x` into T"
// quotes.
func typeGot(msg string) string {
	if i, j := strings.IndexByte(msg, '`'), strings.LastIndexByte(msg, '`'); i >= 0 && j > i {
		return fmt.Sprintf("%q", msg[i+1:j])
	}
	return "a single value"
}

// typeHint says what shape a value must have, from yaml.v3's "cannot
// unmarshal !!str `x` into T".
func typeHint(msg string) string {
	got := ""
	if i, j := strings.IndexByte(msg, '`'), strings.LastIndexByte(msg, '`'); i >= 0 && j > i {
		got = msg[i+1 : j]
	}
	switch into := msg[strings.LastIndex(msg, " into ")+6:]; {
	case strings.HasPrefix(into, "[]"):
		return fmt.Sprintf("%q is a single value where a list is expected: write [%s] (or one '- item' per line below the key)", got, got)
	case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "float"), strings.HasPrefix(into, "uint"):
		return fmt.Sprintf("%q is not a number", got)
	case into == "bool":
		return fmt.Sprintf("%q is not true or false", got)
	case into == "time.Duration":
		return fmt.Sprintf("invalid duration %q: use units such as 90s, 5m or 24h", got)
	case strings.HasPrefix(into, "config."), strings.HasSuffix(into, "Config"), strings.HasPrefix(into, "map"):
		return "a section is expected here: its keys indented below it"
	case into == "string" || strings.HasSuffix(into, "Secret"):
		return "a single value is expected here, not a list or a section"
	}
	return msg
}

// keyLines maps each line of a YAML document that holds a key or a value
// to that key's dotted path (list items as path[i]).
func keyLines(data []byte) map[int]string {
	out := map[int]string{}
	eachKey(data, func(path string, keyLine, valueLine int) {
		out[keyLine] = path
		if _, ok := out[valueLine]; !ok || valueLine != keyLine {
			out[valueLine] = path
		}
	})
	return out
}

// keyPositions maps each key of a YAML document (dotted, list items as
// path[i]) to the line it is written on.
func keyPositions(data []byte) map[string]int {
	out := map[string]int{}
	eachKey(data, func(path string, keyLine, _ int) {
		if _, ok := out[path]; !ok {
			out[path] = keyLine
		}
	})
	return out
}

// eachKey calls fn for every key and list item of a YAML document, with
// its dotted path, its line and its value's line.
func eachKey(data []byte, fn func(path string, keyLine, valueLine int)) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				fn(p, k.Line, v.Line)
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Line != n.Line {
					fn(p, c.Line, c.Line)
				}
				walk(c, p)
			}
		}
	}
	walk(&doc, "")
}

// withLines puts the file's line before each error that starts with a key
// written in it (the longest such key), as yaml.v3's errors have theirs.
func withLines(err error, data []byte, env map[string]string) error {
	lines := keyPositions(data)
	var out []error
	for _, e := range flatten(err) {
		msg, best := e.Error(), ""
		for k := range lines {
			if len(k) > len(best) && keyOf(msg, k) {
				best = k
			}
		}
		for k := range env {
			if len(k) >= len(best) && keyOf(msg, k) {
				best = k
			}
		}
		switch {
		case env[best] != "":
			// The environment overrides the file: the line would mislead.
			e = fmt.Errorf("%s (from the environment): %w", env[best], e)
		case best != "":
			e = fmt.Errorf("line %d: %w", lines[best], e)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// keyOf reports whether msg is about key: it starts with it, followed by
// a space, a colon or a dot.
func keyOf(msg, key string) bool {
	return strings.HasPrefix(msg, key) && len(msg) > len(key) && strings.IndexByte(" :.", msg[len(key)]) >= 0
}

// fromEnv maps the keys that environ sets to their variables.
func fromEnv(environ []string) map[string]string {
	set := map[string]bool{}
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok {
			set[k] = true
		}
	}
	out := map[string]string{}
	for _, k := range Keys() {
		if set[k.Env] {
			out[k.Path] = k.Env
		}
	}
	return out
}

func (c *Config) readSecretFiles() error {
	var errs []error
	// who, when set, names the account (" (account us-east)").
	read := func(key, who, path string, dst *redact.Secret) {
		if path == "" {
			return
		}
		if *dst != "" {
			errs = append(errs, fmt.Errorf("%s and %s_file are both set%s: keep one", key, key, who))
			return
		}
		b, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			// Reported here; not "missing" again by Validate (Load
			// fails, so this value is never used).
			*dst = redact.Secret("unreadable")
		}
		switch {
		case errors.Is(err, fs.ErrPermission):
			errs = append(errs, fmt.Errorf("%s_file%s: %s is not readable by the connector's user: give it read access (chmod/chgrp, or systemd LoadCredential=)", key, who, path))
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Errorf("%s_file%s: %s does not exist: check the path", key, who, path))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s_file%s: %s: %w", key, who, path, unwrapPath(err)))
		case len(bytes.TrimSpace(b)) == 0:
			errs = append(errs, fmt.Errorf("%s_file%s: %s is empty: it must hold the secret", key, who, path))
		default:
			*dst = redact.Secret(strings.TrimSpace(string(b)))
		}
	}
	read("duo.skey", "", c.Duo.SKeyFile, &c.Duo.SKey)
	for i := range c.AccountList {
		a := &c.AccountList[i]
		who := ""
		if a.Name != "" {
			who = " (account " + a.Name + ")"
		}
		read(fmt.Sprintf("accounts[%d].skey", i), who, a.SKeyFile, &a.SKey)
	}
	read("kafka.sasl.password", "", c.Kafka.SASL.PasswordFile, &c.Kafka.SASL.Password)
	return errors.Join(errs...)
}

// Validate reports every bad key at once, each with its fix. Each section
// has its validator; the Duo client and the publisher validate their own
// settings, and their errors get the section's prefix here.
func (c Config) Validate() error {
	return errors.Join(
		c.validateDuo(),
		c.validateLogs(),
		c.validateSchedule(),
		c.validateKafka(),
		c.validateOutput(),
		c.validateCheckpoint(),
	)
}

// prefixed prefixes each of a component's errors with its section.
func prefixed(section string, err error) []error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		out = append(out, fmt.Errorf("%s.%w", section, e))
	}
	return out
}

func (c Config) validateDuo() error {
	var errs []error
	if c.Duo.APIHost != "" || c.Duo.IKey != "" || c.Duo.SKey != "" || len(c.AccountList) == 0 || c.Duo.ChildAccounts.Enabled {
		errs = prefixed("duo", c.Duo.Config.Validate())
	}
	if ch := c.Duo.ChildAccounts; ch.Enabled {
		if c.Duo.AccountID != "" {
			errs = append(errs, errors.New("duo.account_id and duo.child_accounts.enabled are both set: discovery reads every child; choose them with duo.child_accounts.include instead"))
		}
		if ch.Refresh <= 0 {
			errs = append(errs, errors.New("duo.child_accounts.refresh must be above 0 (default 15m)"))
		}
		if err := (accounts.Filter{Include: ch.Include, Exclude: ch.Exclude}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("duo.child_accounts.include/exclude: %v", err))
		}
	}
	errs = append(errs, c.validateAccountList()...)
	return errors.Join(errs...)
}

var accountName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validateAccountList checks each item of accounts, named by its index
// and name, and that no two read the same Duo account.
func (c Config) validateAccountList() []error {
	var errs []error
	names := map[string]int{}
	for i, a := range c.AccountList {
		where := fmt.Sprintf("accounts[%d]", i)
		if a.Name != "" {
			where += " (" + a.Name + ")"
		}
		// Names that differ only in case or in . _ - would share their
		// secret's environment variable (and be confused by people).
		env := AccountSecretEnv(a.Name)
		switch j, dup := names[env]; {
		case a.Name == "":
			errs = append(errs, fmt.Errorf("%s.name is missing: give each account a short name (letters, digits, . _ -), used in logs, metrics, --account and its environment variables", where))
		case !accountName.MatchString(a.Name):
			errs = append(errs, fmt.Errorf("%s.name %q: use letters, digits, '.', '_' and '-' only", where, a.Name))
		case dup:
			errs = append(errs, fmt.Errorf("%s.name %q collides with accounts[%d].name %q: names must differ by more than case and '.', '_', '-' (both would read their secret from %s)",
				where, a.Name, j, c.AccountList[j].Name, env))
		default:
			names[env] = i
		}
		d := c.DuoConfig(nil)
		d.APIHost, d.IKey, d.SKey, d.AccountID = a.APIHost, a.IKey, a.SKey, a.AccountID
		for _, e := range flatten(d.Validate()) {
			if e != nil {
				errs = append(errs, fmt.Errorf("%s.%v", where, e))
			}
		}
		if a.RequestsPerSecond < 0 {
			errs = append(errs, fmt.Errorf("%s.requests_per_second must be above 0 (default: duo.requests_per_second)", where))
		}
		seen := map[string]bool{}
		for _, l := range a.Logs {
			if _, err := duo.ParseLogType(l); err != nil {
				errs = append(errs, fmt.Errorf("%s.logs: %v", where, err))
			} else if seen[l] {
				errs = append(errs, fmt.Errorf("%s.logs: %s is listed twice", where, l))
			}
			seen[l] = true
		}
	}
	keys := map[string]string{}
	for _, a := range c.Accounts() {
		if other, ok := keys[a.Key()]; ok {
			errs = append(errs, fmt.Errorf("accounts: %s and %s read the same Duo account (%s): keep one", other, a.Label(), a.Key()))
		}
		keys[a.Key()] = a.Label()
	}
	return errs
}

func (c Config) validateLogs() error {
	var errs []error
	if len(c.Logs) == 0 {
		errs = append(errs, errors.New("logs is empty: list some of auth, admin, offline, telephony, activity, trust_monitor"))
	}
	seen := map[string]bool{}
	for _, l := range c.Logs {
		if _, err := duo.ParseLogType(l); err != nil {
			errs = append(errs, fmt.Errorf("logs: %v", err))
		} else if seen[l] {
			errs = append(errs, fmt.Errorf("logs: %s is listed twice", l))
		}
		seen[l] = true
	}
	m, err := normalize.ParseMapping(c.Normalize.Mapping)
	if err != nil {
		errs = append(errs, fmt.Errorf("normalize.mapping: %v", err))
	}
	if g := c.Normalize.GeoIP; g.Enabled() {
		if err == nil && m != normalize.Elastic {
			errs = append(errs, fmt.Errorf("normalize.geoip: only the elastic mapping adds locations (the mapping is %s): set normalize.mapping: elastic, or remove normalize.geoip", m))
		} else {
			// Opened here, so that a missing or corrupt database stops
			// the start (and config check) with its key named.
			errs = append(errs, prefixed("normalize.geoip", geoip.Check(g))...)
		}
	}
	return errors.Join(errs...)
}

func (c Config) validateSchedule() error {
	var errs []error
	if c.Lag.D() < duolog.MinLag {
		errs = append(errs, fmt.Errorf("lag %s is below Duo's 2-minute availability delay: records would be missed; use 2m or more (default %s)", FormatDuration(c.Lag.D()), FormatDuration(duolog.DefaultLag)))
	}
	if c.Lag.D() >= duolog.Horizon {
		errs = append(errs, fmt.Errorf("lag %s keeps reads behind Duo's %d-day retention: nothing would ever be read; use minutes (default %s)", FormatDuration(c.Lag.D()), duolog.Retention/(24*time.Hour), FormatDuration(duolog.DefaultLag)))
	}
	if c.InitialLookback.D() <= 0 || c.InitialLookback.D() > duolog.Horizon {
		errs = append(errs, fmt.Errorf("initial_lookback %s: use a duration above 0 and at most %dd (Duo keeps %d days)", FormatDuration(c.InitialLookback.D()), duolog.Horizon/(24*time.Hour), duolog.Retention/(24*time.Hour)))
	}
	if _, err := ParseSchedule(c.Schedule); err != nil {
		errs = append(errs, fmt.Errorf("schedule: %v", err))
	}
	if c.Jitter < 0 {
		errs = append(errs, errors.New("jitter must not be negative"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state_dir is empty: name a directory the connector may write (systemd: /var/lib/duo-connector)"))
	}
	if c.PagesInFlight < 1 || c.PagesInFlight > maxPagesInFlight {
		errs = append(errs, fmt.Errorf("pages_in_flight must be 1 to %d (default 2): each page held is up to a few megabytes, and Kafka's acknowledgements, not more pages, set the pace", maxPagesInFlight))
	}
	if c.ConcurrentPolls < 1 || c.ConcurrentPolls > maxConcurrentPolls {
		errs = append(errs, fmt.Errorf("concurrent_polls must be 1 to %d (default 16): each poll waits mostly on Duo, whose rate limits, not more workers, set the pace", maxConcurrentPolls))
	}
	if c.StallTurns < 2 {
		errs = append(errs, errors.New("stall_turns must be at least 2 (default 20): a log whose cursor stays put for that many turns of successful requests is reported stalled"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown_timeout must be above 0"))
	}
	return errors.Join(errs...)
}

// The largest pages_in_flight and concurrent_polls accepted.
const (
	maxPagesInFlight   = 64
	maxConcurrentPolls = 256
)

// Warnings are settings that work but are risky, each with the reason:
// the connector logs them at start, and config check prints them.
func (c Config) Warnings() []string {
	var out []string
	switch c.Kafka.RequiredAcks {
	case "none":
		out = append(out, "kafka.required_acks: none voids the delivery guarantee: the connector cannot know a record reached Kafka before it moves the cursor past it, so a broker failure loses records; use all")
	case "one":
		out = append(out, "kafka.required_acks: one loses the records a leader acknowledged and then failed before its followers copied them; use all")
	}
	if sched, err := ParseSchedule(c.Schedule); err == nil {
		next := sched.Next(time.Now())
		if every := sched.Next(next).Sub(next); every < time.Minute {
			out = append(out, fmt.Sprintf("schedule %q polls every %s: Duo asks integrations to poll each log at most once a minute, and rate-limits the account (429) past that; use @every 1m or more", c.Schedule, every))
		}
	}
	if c.Lag.D() > time.Hour && c.Lag.D() < duolog.Horizon {
		out = append(out, fmt.Sprintf("lag %s: records reach Kafka that long after they happen; Duo needs only 2m", FormatDuration(c.Lag.D())))
	}
	return out
}

func (c Config) validateKafka() error {
	errs := prefixed("kafka", c.Kafka.Config.Validate())
	switch c.Kafka.MessageTimestamp {
	case "event", "publish":
	default:
		errs = append(errs, fmt.Errorf("kafka.message_timestamp %q: use event (the record's time) or publish (the time of writing)", c.Kafka.MessageTimestamp))
	}
	return errors.Join(errs...)
}

func (c Config) validateCheckpoint() error {
	var errs []error
	cp := c.Checkpoint
	switch cp.Store {
	case "file", "kafka":
	default:
		errs = append(errs, fmt.Errorf("checkpoint.store %q: use file (the state directory, one process) or kafka (a compacted topic, a cluster of processes)", cp.Store))
	}
	if cp.Store == "kafka" {
		if cp.Topic == "" {
			errs = append(errs, errors.New("checkpoint.topic is empty: name the state topic (default duo-connector-state)"))
		}
		if cp.Partitions < 1 {
			errs = append(errs, errors.New("checkpoint.partitions must be at least 1 (default 12): the work is shared by partition, so more than the processes you will run"))
		}
		if cp.ReplicationFactor < 0 {
			errs = append(errs, errors.New("checkpoint.replication_factor must be 0 (the brokers' default) or more"))
		}
		if cp.Group == "" {
			errs = append(errs, errors.New("checkpoint.group is empty: name the connector group (default duo-connector)"))
		}
		accts := c.Accounts()
		if parent, _, ok := c.Discovery(); ok {
			accts = append(accts, parent)
		}
		if slices.Contains(c.Topics(accts), cp.Topic) {
			errs = append(errs, fmt.Errorf("checkpoint.topic %q is also a topic the records go to (kafka.topic): the state topic must be one of its own, compacted, and compacting a data topic would delete records; name another (default duo-connector-state)", cp.Topic))
		}
		if d := cp.SessionTimeout.D(); d < 6*time.Second || d > 30*time.Minute {
			errs = append(errs, errors.New("checkpoint.session_timeout must be 6s to 30m (default 30s): brokers refuse other values by default (group.min.session.timeout.ms 6s, group.max.session.timeout.ms 30m)"))
		}
	}
	return errors.Join(errs...)
}

func (c Config) validateOutput() error {
	var errs []error
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: use debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: use text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// flatten lists the errors of nested errors.Join trees, leaves only.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

// ParseSchedule parses a cron spec (5 fields) or a descriptor such as
// @every 1m or @hourly.
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron spec (such as */5 * * * *) or @every <duration>: %v", spec, err)
	}
	return s, nil
}

// LogTypes returns the configured log types.
func (c Config) LogTypes() []duo.LogType { return parseLogTypes(c.Logs) }

func parseLogTypes(logs []string) []duo.LogType {
	out := make([]duo.LogType, 0, len(logs))
	for _, l := range logs {
		if t, err := duo.ParseLogType(l); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// DuoConfig returns the Duo client configuration: the duo section as
// decoded, with a logger.
func (c Config) DuoConfig(logger *slog.Logger) duo.Config {
	d := c.Duo.Config
	d.Logger = logger
	return d
}

// PublishConfig returns the Kafka publisher configuration: the kafka
// section as decoded, with a logger.
func (c Config) PublishConfig(logger *slog.Logger) publish.Config {
	k := c.Kafka.Config
	k.Logger = logger
	return k
}

// Topics lists the Kafka topics the given accounts' logs are written to.
func (c Config) Topics(accts []accounts.Account) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range accts {
		for _, lt := range a.Logs {
			t := publish.TopicFor(c.Kafka.Topic, lt.EventType(), string(lt), a.TopicName())
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// Accounts lists the accounts named in the configuration itself: the one
// of duo.* (unless its keys are an MSP parent's, whose children are
// found by Discovery, or it is left empty for an accounts list), then
// the accounts list, in its order.
func (c Config) Accounts() []accounts.Account {
	var out []accounts.Account
	if c.Duo.APIHost != "" && !c.Duo.ChildAccounts.Enabled {
		out = append(out, accounts.Account{
			ID: c.Duo.AccountID, APIHost: c.Duo.APIHost, IKey: c.Duo.IKey, SKey: c.Duo.SKey, Logs: c.LogTypes(),
		})
	}
	for i, a := range c.AccountList {
		acct := accounts.Account{
			Name: a.Name, ID: a.AccountID, APIHost: a.APIHost, IKey: a.IKey, SKey: a.SKey,
			Logs: c.LogTypes(), RequestsPerSecond: a.RequestsPerSecond, KeysAt: accountKeys(i, a.Name),
		}
		if len(a.Logs) > 0 {
			acct.Logs = parseLogTypes(a.Logs)
		}
		out = append(out, acct)
	}
	return out
}

// Discovery returns the parent account whose children are read (its
// keys, logs and budget, given to each child) and the filter choosing
// them, or false when child accounts are not enabled.
func (c Config) Discovery() (parent accounts.Account, f accounts.Filter, ok bool) {
	ch := c.Duo.ChildAccounts
	if !ch.Enabled {
		return parent, f, false
	}
	parent = accounts.Account{APIHost: c.Duo.APIHost, IKey: c.Duo.IKey, SKey: c.Duo.SKey, Logs: c.LogTypes()}
	return parent, accounts.Filter{Include: ch.Include, Exclude: ch.Exclude}, true
}

// accountKeys names item i of accounts in messages: its index, and its
// name when it has one ("accounts[2] (us-east)"); keys follow the index.
func accountKeys(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("accounts[%d]", i)
	}
	return fmt.Sprintf("accounts[%d] (%s)", i, name)
}

// unwrapPath is a path error without the path and operation the message
// gives already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// FormatDuration writes a duration as people write it, with days: 36h as
// 1d12h, 400 days as 400d, 2m30s as 2m30s (ParseDuration reads it back).
func FormatDuration(d time.Duration) string {
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	out := ""
	if days > 0 {
		out = fmt.Sprintf("%dd", days)
	}
	if rest > 0 || out == "" {
		r := rest.String() // "1h0m0s", "2m30s", "0s"
		if strings.HasSuffix(r, "m0s") {
			r = strings.TrimSuffix(r, "0s")
		}
		if strings.HasSuffix(r, "h0m") {
			r = strings.TrimSuffix(r, "0m")
		}
		out += r
	}
	return out
}
