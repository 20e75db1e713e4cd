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
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/duolog"
	"github.com/duo-connector/duo-connector/connector/publish"
	"github.com/duo-connector/duo-connector/normalize"
)

// EnvPrefix starts every environment variable that overrides a key:
// kafka.brokers is DUO_CONNECTOR_KAFKA_BROKERS. DUO_CONNECTOR_CONFIG
// names the configuration file.
const EnvPrefix = "DUO_CONNECTOR_"

// Config is the whole configuration.
type Config struct {
	Duo Duo `yaml:"duo"`
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
	// ShutdownTimeout bounds how long a stop waits for the page in flight.
	ShutdownTimeout Duration  `yaml:"shutdown_timeout"`
	Normalize       Normalize `yaml:"normalize"`
	Kafka           Kafka     `yaml:"kafka"`
	Log             Log       `yaml:"log"`
	HTTP            HTTP      `yaml:"http"`
}

// Duo configures the Admin API client.
type Duo struct {
	APIHost           string   `yaml:"api_host"`
	IKey              string   `yaml:"ikey"`
	SKey              Secret   `yaml:"skey"`
	SKeyFile          string   `yaml:"skey_file"`
	AccountID         string   `yaml:"account_id"`
	CAFile            string   `yaml:"ca_file"`
	Proxy             string   `yaml:"proxy"`
	Timeout           Duration `yaml:"timeout"`
	RequestsPerSecond float64  `yaml:"requests_per_second"`
	TelephonyV1       bool     `yaml:"telephony_v1"`
	Retry             Retry    `yaml:"retry"`
}

// Retry is the Duo client's backoff.
type Retry struct {
	InitialBackoff Duration `yaml:"initial_backoff"`
	MaxBackoff     Duration `yaml:"max_backoff"`
	MaxAttempts    int      `yaml:"max_attempts"`
}

// Normalize selects the mapping.
type Normalize struct {
	Mapping string `yaml:"mapping"`
}

// Kafka configures the publisher.
type Kafka struct {
	Brokers          []string  `yaml:"brokers"`
	Topic            string    `yaml:"topic"`
	RequiredAcks     string    `yaml:"required_acks"`
	Compression      string    `yaml:"compression"`
	ClientID         string    `yaml:"client_id"`
	WriteTimeout     Duration  `yaml:"write_timeout"`
	BatchBytes       int64     `yaml:"batch_bytes"`
	MessageTimestamp string    `yaml:"message_timestamp"`
	TLS              KafkaTLS  `yaml:"tls"`
	SASL             KafkaSASL `yaml:"sasl"`
}

// KafkaTLS configures TLS to the brokers.
type KafkaTLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// KafkaSASL configures SASL.
type KafkaSASL struct {
	Mechanism    string `yaml:"mechanism"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Log configures the connector's own logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// HTTP configures the metrics and health listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Secret is a string that never prints: %v, %s, logs and errors show
// "[REDACTED]". Value returns the secret itself.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return s.String() }

// MarshalYAML keeps the secret out of a re-encoded configuration.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Value returns the secret.
func (s Secret) Value() string { return string(s) }

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

// Default returns the configuration with every default set.
func Default() Config {
	return Config{
		Duo: Duo{
			Timeout:           Duration(duo.DefaultTimeout),
			RequestsPerSecond: duo.DefaultRequestsPerSecond,
			Retry: Retry{
				InitialBackoff: Duration(duo.DefaultInitialBackoff),
				MaxBackoff:     Duration(duo.DefaultMaxBackoff),
				MaxAttempts:    duo.DefaultMaxAttempts,
			},
		},
		Logs:            []string{"auth", "admin", "offline", "telephony"},
		InitialLookback: Duration(24 * time.Hour),
		Lag:             Duration(duolog.DefaultLag),
		Schedule:        "@every 1m",
		Jitter:          Duration(5 * time.Second),
		StateDir:        "/var/lib/duo-connector",
		ShutdownTimeout: Duration(30 * time.Second),
		Normalize:       Normalize{Mapping: "v1"},
		Kafka: Kafka{
			Topic:            "duo-logs",
			RequiredAcks:     "all",
			Compression:      "lz4",
			ClientID:         "duo-connector",
			WriteTimeout:     Duration(30 * time.Second),
			BatchBytes:       1 << 20,
			MessageTimestamp: "event",
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// Load reads the file at path (none when empty) over the defaults, applies
// the environment's overrides, reads the secret files and validates.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
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
	if err := cfg.readSecretFiles(); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
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
		return err
	}
	keys := keyLines(data)
	var errs []error
	for _, e := range te.Errors {
		errs = append(errs, errors.New(explainLine(e, keys)))
	}
	return errors.Join(errs...)
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

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
	case strings.HasPrefix(into, "config."), strings.HasPrefix(into, "map"):
		return "a section is expected here: its keys indented below it"
	case into == "string" || strings.HasSuffix(into, "Secret"):
		return "a single value is expected here, not a list or a section"
	}
	return msg
}

// keyLines maps each line of a YAML document that holds a key or a value
// to that key's dotted path (list items as path[i]).
func keyLines(data []byte) map[int]string {
	var doc yaml.Node
	out := map[int]string{}
	if yaml.Unmarshal(data, &doc) != nil {
		return out
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
				out[k.Line] = p
				if _, ok := out[v.Line]; !ok || v.Line != k.Line {
					out[v.Line] = p
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Line != n.Line {
					out[c.Line] = p
				}
				walk(c, p)
			}
		}
	}
	walk(&doc, "")
	return out
}

func (c *Config) readSecretFiles() error {
	var errs []error
	read := func(key, path string, dst *Secret) {
		if path == "" {
			return
		}
		if *dst != "" {
			errs = append(errs, fmt.Errorf("%s and %s_file are both set: keep one", key, key))
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s_file: %w", key, err))
			return
		}
		*dst = Secret(strings.TrimSpace(string(b)))
	}
	read("duo.skey", c.Duo.SKeyFile, &c.Duo.SKey)
	read("kafka.sasl.password", c.Kafka.SASL.PasswordFile, &c.Kafka.SASL.Password)
	return errors.Join(errs...)
}

// Validate reports every bad key at once, each with its fix.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Duo.APIHost == "" || c.Duo.IKey == "" || c.Duo.SKey == "" {
		if c.Duo.APIHost == "" {
			add("duo.api_host is missing: set it to the Admin API hostname (api-xxxxxxxx.duosecurity.com) from the Duo Admin Panel")
		}
		if c.Duo.IKey == "" {
			add("duo.ikey is missing: set it to the Admin API application's integration key")
		}
		if c.Duo.SKey == "" {
			add("duo.skey is missing: set duo.skey_file (a file holding the secret key), or %sDUO_SKEY", EnvPrefix)
		}
	}
	if c.Duo.APIHost != "" && strings.ContainsAny(c.Duo.APIHost, "/ ") {
		add("duo.api_host %q: give the bare host[:port], without https:// or a path", c.Duo.APIHost)
	}
	if c.Duo.Proxy != "" {
		if err := (duo.Config{APIHost: "x", IKey: "x", SKey: "x", Proxy: c.Duo.Proxy}).Validate(); err != nil {
			add("duo.%v", err)
		}
	}
	if c.Duo.RequestsPerSecond <= 0 {
		add("duo.requests_per_second must be above 0 (default 0.5)")
	}
	if c.Duo.Timeout <= 0 {
		add("duo.timeout must be above 0 (default 60s)")
	}
	if c.Duo.Retry.InitialBackoff <= 0 || c.Duo.Retry.MaxBackoff < c.Duo.Retry.InitialBackoff {
		add("duo.retry: initial_backoff must be above 0 and at most max_backoff")
	}
	if c.Duo.Retry.MaxAttempts < 1 {
		add("duo.retry.max_attempts must be at least 1")
	}
	if len(c.Logs) == 0 {
		add("logs is empty: list some of auth, admin, offline, telephony")
	}
	seen := map[string]bool{}
	for _, l := range c.Logs {
		if _, err := duo.ParseLogType(l); err != nil {
			add("logs: %v", err)
		} else if seen[l] {
			add("logs: %s is listed twice", l)
		}
		seen[l] = true
	}
	if c.Lag.D() < duolog.MinLag {
		add("lag %s is below Duo's 2-minute availability delay: records would be missed; use 2m or more", c.Lag.D())
	}
	if c.InitialLookback.D() <= 0 || c.InitialLookback.D() > duolog.Horizon {
		add("initial_lookback %s: use a duration above 0 and at most 179d (Duo keeps 180 days)", c.InitialLookback.D())
	}
	if _, err := ParseSchedule(c.Schedule); err != nil {
		add("schedule: %v", err)
	}
	if c.Jitter < 0 {
		add("jitter must not be negative")
	}
	if c.StateDir == "" {
		add("state_dir is empty: name a directory the connector may write (systemd: /var/lib/duo-connector)")
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout must be above 0")
	}
	if _, err := normalize.ParseMapping(c.Normalize.Mapping); err != nil {
		add("normalize.mapping: %v", err)
	}
	if err := c.PublishConfig(nil).Validate(); err != nil {
		for _, e := range unjoin(err) {
			add("kafka.%v", e)
		}
	}
	switch c.Kafka.MessageTimestamp {
	case "event", "publish":
	default:
		add("kafka.message_timestamp %q: use event (the record's time) or publish (the time of writing)", c.Kafka.MessageTimestamp)
	}
	if c.Kafka.WriteTimeout <= 0 {
		add("kafka.write_timeout must be above 0")
	}
	if c.Kafka.BatchBytes < 1024 {
		add("kafka.batch_bytes %d is too small: use at least 1024 (default 1048576)", c.Kafka.BatchBytes)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		add("log.level %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format %q: use text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
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
func (c Config) LogTypes() []duo.LogType {
	out := make([]duo.LogType, 0, len(c.Logs))
	for _, l := range c.Logs {
		if t, err := duo.ParseLogType(l); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// DuoConfig returns the Duo client configuration.
func (c Config) DuoConfig(logger *slog.Logger) duo.Config {
	return duo.Config{
		APIHost: c.Duo.APIHost, IKey: c.Duo.IKey, SKey: c.Duo.SKey.Value(),
		CAFile: c.Duo.CAFile, Proxy: c.Duo.Proxy, AccountID: c.Duo.AccountID,
		Timeout: c.Duo.Timeout.D(), RequestsPerSecond: c.Duo.RequestsPerSecond,
		Retry: duo.RetryConfig{
			InitialBackoff: c.Duo.Retry.InitialBackoff.D(), MaxBackoff: c.Duo.Retry.MaxBackoff.D(), MaxAttempts: c.Duo.Retry.MaxAttempts,
		},
		UserAgent: "duo-connector",
		Logger:    logger,
	}
}

// PublishConfig returns the Kafka publisher configuration.
func (c Config) PublishConfig(logger *slog.Logger) publish.Config {
	k := c.Kafka
	return publish.Config{
		Brokers: k.Brokers, Topic: k.Topic, RequiredAcks: k.RequiredAcks, Compression: k.Compression,
		ClientID: k.ClientID, WriteTimeout: k.WriteTimeout.D(), BatchBytes: k.BatchBytes,
		TLS: publish.TLSConfig{
			Enabled: k.TLS.Enabled, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile,
			ServerName: k.TLS.ServerName, InsecureSkipVerify: k.TLS.InsecureSkipVerify,
		},
		SASL:   publish.SASLConfig{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, Password: k.SASL.Password.Value()},
		Logger: logger,
	}
}

// Topics lists the Kafka topics the configured logs are written to.
func (c Config) Topics() []string {
	seen := map[string]bool{}
	var out []string
	for _, lt := range c.LogTypes() {
		t := publish.TopicFor(c.Kafka.Topic, lt.EventType(), string(lt))
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// Account names the Duo account the configuration reads, for cursors and
// logs: the API host, plus the MSP child account when set.
func (c Config) Account() string {
	if c.Duo.AccountID != "" {
		return c.Duo.APIHost + "/" + c.Duo.AccountID
	}
	return c.Duo.APIHost
}

// Keys lists every configuration key (dotted) with its environment
// variable, in declaration order.
func Keys() [][2]string {
	var out [][2]string
	walk(reflect.ValueOf(&Config{}).Elem(), nil, func(path []string, _ reflect.Value) {
		out = append(out, [2]string{strings.Join(path, "."), envName(path)})
	})
	return out
}

func envName(path []string) string {
	return EnvPrefix + strings.ToUpper(strings.Join(path, "_"))
}

// walk calls fn for every leaf field of a struct value, with its yaml path.
func walk(v reflect.Value, path []string, fn func([]string, reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := append(append([]string(nil), path...), name)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			walk(fv, p, fn)
			continue
		}
		fn(p, fv)
	}
}

var durationType = reflect.TypeOf(Duration(0))

// applyEnv sets every key whose environment variable is present.
func applyEnv(cfg *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	var errs []error
	known := map[string]bool{}
	walk(reflect.ValueOf(cfg).Elem(), nil, func(path []string, fv reflect.Value) {
		name := envName(path)
		known[name] = true
		val, ok := env[name]
		if !ok {
			return
		}
		key := strings.Join(path, ".")
		switch {
		case fv.Type() == durationType:
			d, err := ParseDuration(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %v", name, key, err))
				return
			}
			fv.SetInt(int64(d))
		case fv.Kind() == reflect.String:
			fv.SetString(val)
		case fv.Kind() == reflect.Slice:
			var items []string
			for _, s := range strings.Split(val, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			fv.Set(reflect.ValueOf(items))
		case fv.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %q is not true or false", name, key, val))
				return
			}
			fv.SetBool(b)
		case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %q is not a whole number", name, key, val))
				return
			}
			fv.SetInt(n)
		case fv.Kind() == reflect.Float64:
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %q is not a number", name, key, val))
				return
			}
			fv.SetFloat(f)
		}
	})
	for name := range env {
		if !known[name] && name != EnvPrefix+"CONFIG" {
			errs = append(errs, fmt.Errorf("environment variable %s matches no configuration key (see 'duo-connector config keys')", name))
		}
	}
	return errors.Join(errs...)
}
