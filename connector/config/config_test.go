package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/normalize/geoip/geoiptest"
)

const example = "../../configs/duo-connector.example.yaml"

// TestExampleLoads: the shipped example loads and validates once its
// secret file exists, and documents every key there is.
func TestExampleLoads(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	skey := filepath.Join(t.TempDir(), "skey")
	os.WriteFile(skey, []byte("secret-from-file\n"), 0o600)
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte(strings.Replace(string(data), "/etc/duo-connector/skey", skey, 1)), 0o600)
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Duo.SKey.Value() != "secret-from-file" {
		t.Errorf("skey_file not read: %q", cfg.Duo.SKey.Value())
	}
	for _, k := range config.Keys() {
		leaf := k.Path[strings.LastIndex(k.Path, ".")+1:]
		if !strings.Contains(string(data), leaf+":") {
			t.Errorf("key %s is not documented in %s", k.Path, example)
		}
	}
	// The example's values are the defaults, apart from the placeholders.
	def := config.Default()
	if cfg.Lag != def.Lag || cfg.Schedule != def.Schedule || cfg.Kafka.Compression != def.Kafka.Compression ||
		cfg.Duo.RequestsPerSecond != def.Duo.RequestsPerSecond || cfg.InitialLookback != def.InitialLookback {
		t.Errorf("the example's values drifted from the defaults")
	}
}

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = `
duo: {api_host: api-x.duosecurity.com, ikey: DIX, skey: s3cr3t}
kafka: {brokers: ["127.0.0.1:9092"]}
state_dir: /tmp/x
`

func TestEnvOverrides(t *testing.T) {
	cfg, err := config.Load(write(t, minimal), []string{
		"DUO_CONNECTOR_KAFKA_BROKERS=a:1, b:2",
		"DUO_CONNECTOR_LAG=5m",
		"DUO_CONNECTOR_INITIAL_LOOKBACK=7d",
		"DUO_CONNECTOR_DUO_REQUESTS_PER_SECOND=0.25",
		"DUO_CONNECTOR_DUO_TELEPHONY_V1=true",
		"DUO_CONNECTOR_DUO_SKEY=from-env",
		"DUO_CONNECTOR_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"DUO_CONNECTOR_KAFKA_SASL_USERNAME=u",
		"DUO_CONNECTOR_KAFKA_SASL_PASSWORD=p",
		"DUO_CONNECTOR_LOGS=auth,admin",
		"DUO_CONNECTOR_CONFIG=/ignored",
		"OTHER=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cfg.Kafka.Brokers) != "[a:1 b:2]" || cfg.Lag.D() != 5*time.Minute || cfg.InitialLookback.D() != 7*24*time.Hour ||
		cfg.Duo.RequestsPerSecond != 0.25 || !cfg.Duo.TelephonyV1 || cfg.Duo.SKey.Value() != "from-env" ||
		cfg.Kafka.SASL.Password.Value() != "p" || fmt.Sprint(cfg.Logs) != "[auth admin]" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	_, err = config.Load(write(t, minimal), []string{"DUO_CONNECTOR_KAFKA_BROKER=a:1", "DUO_CONNECTOR_LAG=soon"})
	if err == nil || !strings.Contains(err.Error(), "DUO_CONNECTOR_KAFKA_BROKER matches no configuration key") || !strings.Contains(err.Error(), "DUO_CONNECTOR_LAG (lag)") {
		t.Fatalf("bad environment: %v", err)
	}
}

// TestValidateNamesEveryBadKey: all problems at once, each by key name.
func TestValidateNamesEveryBadKey(t *testing.T) {
	_, err := config.Load(write(t, `
duo: {api_host: "https://api-x.duosecurity.com/", requests_per_second: -1}
logs: [auth, authentication]
lag: 30s
initial_lookback: 200d
schedule: "every minute"
normalize: {mapping: v3}
kafka: {brokers: [], compression: brotli, message_timestamp: later}
log: {level: loud, format: xml}
`), nil)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"duo.api_host", "duo.ikey", "duo.skey", "duo.requests_per_second", `unknown log type "authentication"`,
		"lag 30s", "initial_lookback", "schedule", "normalize.mapping", "kafka.brokers", "kafka.compression",
		"kafka.message_timestamp", "log.level", "log.format"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %q:\n%v", key, err)
		}
	}
}

// TestEachBadKeyOnce: bad keys of the Duo client's, the publisher's and
// the connector's own settings are each reported exactly once, with the
// line they are on and their default written one way (the duo and kafka
// sections were validated by the config package and again by their
// components: each key twice, the default as 60s and as 1m0s).
func TestEachBadKeyOnce(t *testing.T) {
	_, err := config.Load(write(t, `duo:
  api_host: api-x.duosecurity.com
  ikey: DIXXXXXXXXXXXXXXXXXX
  skey: s
  timeout: -5s
  requests_per_second: -1
  retry: {max_backoff: -1s}
kafka:
  brokers: [localhost:9092]
  write_timeout: -1s
  batch_bytes: 10
stall_turns: 1
checkpoint: {store: kafka, partitions: 0}
`), nil)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	msg := err.Error()
	for key, line := range map[string]int{
		"duo.timeout must be above 0 (default 1m0s)": 5, "duo.requests_per_second": 6, "duo.retry.max_backoff": 7,
		"kafka.write_timeout must be above 0 (default 30s)": 10, "kafka.batch_bytes": 11, "stall_turns": 12, "checkpoint.partitions": 13,
	} {
		if n := strings.Count(msg, key); n != 1 {
			t.Errorf("%q reported %d times, want once:\n%s", key, n, msg)
		}
		if want := fmt.Sprintf("line %d: %s", line, key); !strings.Contains(msg, want) {
			t.Errorf("no %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n"); n != 7 {
		t.Errorf("%d lines, want the path's and 7 errors:\n%s", n+1, msg)
	}
}

func TestUnknownKey(t *testing.T) {
	_, err := config.Load(write(t, minimal+"\nkafka_brokers: [x]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "kafka_brokers") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestSecretFiles(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("kafka-pass\n"), 0o600)
	cfg, err := config.Load(write(t, `
duo: {api_host: api-x.duosecurity.com, ikey: DIX, skey: s3cr3t}
kafka: {brokers: ["127.0.0.1:9092"], sasl: {mechanism: PLAIN, username: u, password_file: `+pw+`}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.SASL.Password.Value() != "kafka-pass" {
		t.Fatalf("password_file not read")
	}
	_, err = config.Load(write(t, `
duo: {api_host: h, ikey: i, skey: s, skey_file: `+pw+`}
kafka: {brokers: ["127.0.0.1:9092"]}`), nil)
	if err == nil || !strings.Contains(err.Error(), "duo.skey and duo.skey_file are both set") {
		t.Fatalf("both skey and skey_file: %v", err)
	}

	// An accounts[] item's file is named with its account, with the fix,
	// and reported with every other bad key (issue 21, items 7 and 8).
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	_, err = config.Load(write(t, `
duo: {api_host: h, ikey: i, skey: s, skey_file: `+pw+`, timeout: -5s}
accounts:
  - {name: us-east, api_host: api-1.duosecurity.com, ikey: DI1, skey_file: /nonexistent/skey}
  - {name: eu, api_host: api-2.duosecurity.com, ikey: DI2, skey_file: `+empty+`}
kafka: {brokers: ["127.0.0.1:9092"], write_timeout: -1s}`), nil)
	for _, want := range []string{
		"duo.skey and duo.skey_file are both set",
		"accounts[0].skey_file (account us-east): /nonexistent/skey does not exist",
		"accounts[1].skey_file (account eu): " + empty + " is empty",
		"duo.timeout must be above 0",
		"kafka.write_timeout",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("lacks %q: %v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "skey is missing") {
		t.Errorf("an unreadable skey_file is reported twice: %v", err)
	}
}

// TestSecretsNeverPrint: formatting the configuration, in any verb, never
// shows a secret.
func TestSecretsNeverPrint(t *testing.T) {
	cfg, err := config.Load(write(t, minimal), []string{"DUO_CONNECTOR_KAFKA_SASL_PASSWORD=kafka-secret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", cfg.Duo)} {
		if strings.Contains(out, "s3cr3t") || strings.Contains(out, "kafka-secret-pw") {
			t.Fatalf("a secret printed: %s", out)
		}
	}
}

// TestTypeErrorsNameKeyAndLine: every value of the wrong shape is reported
// at once, each with its key, its line and the fix.
func TestTypeErrorsNameKeyAndLine(t *testing.T) {
	_, err := config.Load(write(t, `duo:
  api_host: api-x.duosecurity.com
  ikey: DIX
  skey: s
  requests_per_second: fast
lag: abc
kafka:
  brokers: "host:9092"
  tls: {enabled: maybe}
`), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`line 5: duo.requests_per_second: "fast" is not a number`,
		`line 6: lag: invalid duration "abc"`,
		`line 8: kafka.brokers: "host:9092" is a single value where a list is expected: write [host:9092]`,
		`line 9: kafka.tls.enabled: "maybe" is not true or false`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestMultipleDocumentsRefused: a second YAML document would be ignored
// silently; it is an error instead.
func TestMultipleDocumentsRefused(t *testing.T) {
	_, err := config.Load(write(t, minimal+"\n---\nlag: 5m\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Fatalf("two documents: %v", err)
	}
}

// TestHarmfulSettings: what cannot work is refused with the reason, what
// is risky is a warning, and a bad value set by the environment is named
// by its variable, not by a line of the file (issue 21, item 8).
func TestHarmfulSettings(t *testing.T) {
	_, err := config.Load(write(t, minimal+`
lag: 200d
pages_in_flight: 1000
concurrent_polls: 100000
checkpoint: {store: kafka, session_timeout: 1s}
`), []string{"DUO_CONNECTOR_JITTER=-1s"})
	for _, want := range []string{
		"lag 200d keeps reads behind Duo's 180-day retention",
		"pages_in_flight must be 1 to 64",
		"concurrent_polls must be 1 to 256",
		"checkpoint.session_timeout must be 6s to 30m",
		"DUO_CONNECTOR_JITTER (from the environment): jitter must not be negative",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("lacks %q: %v", want, err)
		}
	}
	cfg, err := config.Load(write(t, minimal+`
schedule: "@every 1s"
lag: 2h
`), []string{"DUO_CONNECTOR_KAFKA_REQUIRED_ACKS=none"})
	if err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(cfg.Warnings(), "\n")
	for _, want := range []string{"kafka.required_acks: none voids the delivery guarantee", `schedule "@every 1s" polls every 1s`, "lag 2h: records reach Kafka"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
	if cfg, _ := config.Load(write(t, minimal), nil); len(cfg.Warnings()) != 0 {
		t.Errorf("the defaults warn: %v", cfg.Warnings())
	}
}

// TestFormatDuration: durations as people write them (issue 21, item 15).
func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * 24 * time.Hour: "400d", 195*time.Hour + 58*time.Minute + 22*time.Second: "8d3h58m22s",
		150 * time.Second: "2m30s", 36 * time.Hour: "1d12h", 0: "0s", time.Hour: "1h",
	} {
		if got := config.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
		if back, err := config.ParseDuration(config.FormatDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %s, %v", config.FormatDuration(d), back, err)
		}
	}
	_, err := config.Load(write(t, minimal+"\ninitial_lookback: 400d\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "initial_lookback 400d:") {
		t.Errorf("initial_lookback 400d: %v", err)
	}
}

// TestStateTopicIsNotADataTopic: a state topic that is one of the data
// topics is refused as such (issue 21, item 16: the fix then offered would
// have compacted a data topic).
func TestStateTopicIsNotADataTopic(t *testing.T) {
	_, err := config.Load(write(t, `
duo: {api_host: api-x.duosecurity.com, ikey: DIX, skey: s3cr3t}
logs: [auth, admin]
kafka: {brokers: ["127.0.0.1:9092"], topic: "duo.{log}"}
checkpoint: {store: kafka, topic: duo.admin}
`), nil)
	if err == nil || !strings.Contains(err.Error(), `checkpoint.topic "duo.admin" is also a topic the records go to`) {
		t.Fatalf("state topic = data topic: %v", err)
	}
}

// TestYAMLMistakesInWords: a tab, a file that is not a mapping, a
// directory (issue 21, item 16).
func TestYAMLMistakesInWords(t *testing.T) {
	for content, want := range map[string]string{
		"duo:\n\tapi_host: x\n": "line 2: a tab indents a line: YAML allows only spaces",
		"hello\n":               `line 1: the file must be a YAML mapping of keys`,
	} {
		if _, err := config.Load(write(t, content), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", content, err, want)
		}
	}
	if _, err := config.Load(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "is a directory: give the configuration file") {
		t.Errorf("a directory: %v", err)
	}
}

// TestGeoIPDatabases: normalize.geoip's databases are opened when the
// configuration is loaded; a missing, corrupt or mixed-up database, or
// one the mapping would not use, is a configuration error naming its key.
func TestGeoIPDatabases(t *testing.T) {
	dir := t.TempDir()
	city, asn, err := geoiptest.WriteKnown(dir)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.mmdb")
	os.WriteFile(garbage, []byte("<html>rate limited</html>"), 0o644)
	for _, tc := range []struct {
		name, yaml string
		want       []string // empty: loads
	}{
		{"both", fmt.Sprintf("normalize: {mapping: elastic, geoip: {city_db: %s, asn_db: %s}}", city, asn), nil},
		{"city only", fmt.Sprintf("normalize: {mapping: elastic, geoip: {city_db: %s}}", city), nil},
		{"missing", fmt.Sprintf("normalize: {mapping: elastic, geoip: {city_db: %s/nope.mmdb}}", dir),
			[]string{"normalize.geoip.city_db: " + dir + "/nope.mmdb", "no such file"}},
		{"corrupt", fmt.Sprintf("normalize: {mapping: elastic, geoip: {asn_db: %s}}", garbage),
			[]string{"normalize.geoip.asn_db: " + garbage + ": not a MaxMind database"}},
		{"swapped", fmt.Sprintf("normalize: {mapping: elastic, geoip: {city_db: %s, asn_db: %s}}", asn, city),
			[]string{"normalize.geoip.city_db: ", "name it in asn_db", "normalize.geoip.asn_db: ", "name it in city_db"}},
		{"not elastic", fmt.Sprintf("normalize: {mapping: v2, geoip: {city_db: %s}}", city),
			[]string{"normalize.geoip: only the elastic mapping adds locations (the mapping is v2): set normalize.mapping: elastic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(write(t, minimal+"\n"+tc.yaml+"\n"), nil)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Normalize.GeoIP.CityDB != city {
					t.Errorf("city_db = %q, want %q", cfg.Normalize.GeoIP.CityDB, city)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("lacks %q: %v", w, err)
				}
			}
		})
	}
	// The environment names them too.
	cfg, err := config.Load(write(t, minimal+"\nnormalize: {mapping: elastic}\n"), []string{"DUO_CONNECTOR_NORMALIZE_GEOIP_ASN_DB=" + asn})
	if err != nil || cfg.Normalize.GeoIP.ASNDB != asn {
		t.Errorf("DUO_CONNECTOR_NORMALIZE_GEOIP_ASN_DB: asn_db %q, %v", cfg.Normalize.GeoIP.ASNDB, err)
	}
}
