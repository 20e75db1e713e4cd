// Package publish writes ECS documents to Kafka with
// github.com/segmentio/kafka-go and waits for the brokers' acknowledgement:
// Publish returns nil only once every message of the call is acked, and it
// retries what can be retried for as long as its context allows.
package publish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duo-connector/duo-connector/connector/fault"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/duo-connector/duo-connector/connector/internal/backoff"
	"github.com/duo-connector/duo-connector/connector/internal/liveness"
	"github.com/duo-connector/duo-connector/connector/internal/logctx"
	"github.com/duo-connector/duo-connector/connector/internal/netcheck"
	"github.com/duo-connector/duo-connector/connector/internal/redact"
)

// Config configures a Publisher. It is also the kafka section of the
// connector's configuration file, decoded straight into it (the yaml tags
// are the keys). Zero values take the defaults noted; negative ones are
// refused by Validate.
type Config struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string `yaml:"brokers"`
	// Topic is the topic, or a template: {dataset} is replaced by the
	// record's dataset (auth_log, admin_log, ...), {log} by its log type,
	// {account} by the Duo account's name.
	Topic string `yaml:"topic"`
	// RequiredAcks: "all" (default), "one" or "none".
	RequiredAcks string `yaml:"required_acks"`
	// Compression: "none", "gzip", "snappy", "lz4" (default) or "zstd".
	Compression string `yaml:"compression"`
	// ClientID is sent to the brokers (default "duo-connector").
	ClientID string `yaml:"client_id"`
	// WriteTimeout bounds one produce request (default 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// BatchBytes caps one produce batch, before compression (default
	// 1 MiB, the brokers' default message.max.bytes).
	BatchBytes int64 `yaml:"batch_bytes"`
	// TLS, when Enabled, encrypts the connections.
	TLS TLSConfig `yaml:"tls"`
	// SASL, when Mechanism is set, authenticates.
	SASL SASLConfig `yaml:"sasl"`
	// InitialBackoff and MaxBackoff bound the waits between retries of a
	// failed write (defaults 500ms and 30s).
	InitialBackoff time.Duration `yaml:"-"`
	MaxBackoff     time.Duration `yaml:"-"`
	// GiveUpAfter, when set, ends retrying writes once Kafka has failed
	// every write for this long, counted across every write of the
	// publisher (one-shot runs: one bound for the whole run, however
	// many logs wait on Kafka); zero retries for as long as the context
	// allows (the daemon).
	GiveUpAfter time.Duration `yaml:"-"`
	// Logger receives retry messages (default: discard).
	Logger *slog.Logger `yaml:"-"`
	// OnRetry, when set, is called for every failed write to be retried
	// (metrics).
	OnRetry func() `yaml:"-"`
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism: "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	Mechanism string        `yaml:"mechanism"`
	Username  string        `yaml:"username"`
	Password  redact.Secret `yaml:"password"`
	// PasswordFile names a file holding Password: the configuration
	// loader reads it (the publisher uses Password only).
	PasswordFile string `yaml:"password_file"`
}

var (
	compressions = map[string]kafka.Compression{"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd}
	acks         = map[string]kafka.RequiredAcks{"all": kafka.RequireAll, "one": kafka.RequireOne, "none": kafka.RequireNone}
)

// DefaultConfig returns the defaults of every optional setting: the one
// place they are defined (the connector's configuration starts from it).
func DefaultConfig() Config {
	return Config{
		Topic:          "duo-logs",
		RequiredAcks:   "all",
		Compression:    "lz4",
		ClientID:       "duo-connector",
		WriteTimeout:   30 * time.Second,
		BatchBytes:     1 << 20,
		InitialBackoff: 500 * time.Millisecond,
		MaxBackoff:     30 * time.Second,
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.RequiredAcks == "" {
		c.RequiredAcks = d.RequiredAcks
	}
	if c.Compression == "" {
		c.Compression = d.Compression
	}
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = d.BatchBytes
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = d.InitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every setting that cannot work, by name.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers is empty: list at least one bootstrap broker as host:port"))
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("brokers: %q is not host:port", redact.URL(b)))
		}
	}
	if strings.TrimSpace(c.Topic) == "" {
		errs = append(errs, errors.New("topic is empty: name the topic, or a template such as duo.{dataset}"))
	} else if rest := strings.NewReplacer("{dataset}", "", "{log}", "", "{account}", "").Replace(c.Topic); strings.ContainsAny(rest, "{}") {
		errs = append(errs, fmt.Errorf("topic %q: the only placeholders are {dataset}, {log} and {account}", c.Topic))
	}
	if _, ok := acks[strings.ToLower(c.RequiredAcks)]; !ok {
		errs = append(errs, fmt.Errorf("required_acks %q: use all, one or none", c.RequiredAcks))
	}
	if _, ok := compressions[strings.ToLower(c.Compression)]; !ok {
		errs = append(errs, fmt.Errorf("compression %q: use none, gzip, snappy, lz4 or zstd", c.Compression))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write_timeout must be above 0 (default %s)", DefaultConfig().WriteTimeout))
	}
	if c.BatchBytes < 1024 {
		errs = append(errs, fmt.Errorf("batch_bytes %d is too small: use at least 1024 (default %d)", c.BatchBytes, DefaultConfig().BatchBytes))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together: set both for a client certificate, or neither"))
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" || c.SASL.Password == "" {
			errs = append(errs, errors.New("sasl: username and password (or password_file) are required with a mechanism"))
		}
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL.Mechanism))
	}
	return errors.Join(errs...)
}

// Publisher writes messages to Kafka.
type Publisher struct {
	cfg       Config
	w         *kafka.Writer
	transport *kafka.Transport
	logger    *slog.Logger
	// failingSince is when writes started failing (Unix ns; 0 while the
	// last write succeeded): GiveUpAfter counts from it, for every
	// write at once.
	failingSince atomic.Int64
}

// New returns a Publisher for cfg. It does not connect until used.
func New(cfg Config) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	transport, _, err := cfg.Connection()
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: acks[strings.ToLower(cfg.RequiredAcks)],
		Compression:  compressions[strings.ToLower(cfg.Compression)],
		// One Duo page is one call: let it go out in as few batches as
		// the byte limit allows, and never wait for more (kafka-go's
		// default 1 s BatchTimeout makes every page take a second). A
		// page holds at most 1,000 records, and kafka-go allocates room
		// for BatchSize messages in every batch: no more than that.
		BatchSize:    1000,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: 5 * time.Millisecond,
		// kafka-go's own retries are short: ours, around them, are not.
		MaxAttempts:     3,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		WriteTimeout:    cfg.WriteTimeout,
		ReadTimeout:     cfg.WriteTimeout,
		Transport:       &topicMetadata{RoundTripper: transport, ttl: time.Second},
	}
	return &Publisher{
		cfg:       cfg,
		w:         w,
		transport: transport,
		logger:    cfg.Logger,
	}, nil
}

// Connection returns the kafka-go transport (for clients and writers) and
// dialer (for consumer groups and connections) of the configuration's
// client id, TLS and SASL: the one place they are built, for the other
// kafka-go users (the cluster mode's cursor store and group).
func (c Config) Connection() (*kafka.Transport, *kafka.Dialer, error) {
	c.setDefaults()
	transport := &kafka.Transport{
		ClientID:    c.ClientID,
		DialTimeout: 10 * time.Second,
		IdleTimeout: 5 * time.Minute,
		MetadataTTL: 30 * time.Second,
	}
	dialer := &kafka.Dialer{ClientID: c.ClientID, Timeout: 10 * time.Second, DualStack: true}
	var tc *tls.Config
	if c.TLS.Enabled {
		var err error
		if tc, err = tlsConfig(c.TLS); err != nil {
			return nil, nil, err
		}
	}
	// Our own dialing, TLS included, so that every connection is checked
	// to be Kafka's (see guardedConn).
	transport.Dial = dialBroker(tc)
	dialer.DialFunc = transport.Dial
	if c.SASL.Mechanism != "" {
		m, err := mechanism(c.SASL)
		if err != nil {
			return nil, nil, err
		}
		transport.SASL, dialer.SASLMechanism = m, m
	}
	return transport, dialer, nil
}

func tlsConfig(c TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls.ca_file %s: no PEM certificates found", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func mechanism(c SASLConfig) (sasl.Mechanism, error) {
	switch strings.ToUpper(c.Mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: c.Username, Password: c.Password.Value()}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, c.Username, c.Password.Value())
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, c.Username, c.Password.Value())
	}
	return nil, fmt.Errorf("kafka sasl.mechanism %q is not supported", c.Mechanism)
}

// TopicFor expands a topic template: {dataset}, {log} and {account} (a
// topic-safe name of the Duo account, see accounts.Account.TopicName).
func TopicFor(template, dataset, log, account string) string {
	if !strings.Contains(template, "{") {
		return template
	}
	return strings.NewReplacer("{dataset}", dataset, "{log}", log, "{account}", account).Replace(template)
}

// FatalError is a write failure that retrying will not fix: the
// configuration or the brokers' must change.
type FatalError struct {
	Err  error
	Hint string
	// Topic, when set, is the one topic refused (it does not exist, the
	// principal may not write to it, it takes no message this large):
	// the trouble of the accounts and logs written there, not of the
	// others.
	Topic string
	// TooLarge: the brokers refused a message or batch as larger than
	// the topic takes (its max.message.bytes).
	TooLarge bool
	// perTopic: the refusal is about the topic written to (set in
	// Topic by Publish).
	perTopic bool
}

func (e *FatalError) Error() string {
	msg := fmt.Sprintf("kafka: %v", withoutGoNames(e.Err))
	if e.Topic != "" {
		msg = fmt.Sprintf("kafka: topic %s: %v", e.Topic, withoutGoNames(e.Err))
	}
	if e.Hint == "" {
		return msg
	}
	return msg + ": " + e.Hint
}

func (e *FatalError) Unwrap() error { return e.Err }

// Fault is Permanent for one topic's refusal (its accounts' and logs'
// trouble, not the others'), else Fatal.
func (e *FatalError) Fault() fault.Kind {
	if e.Topic != "" {
		return fault.Permanent
	}
	return fault.Fatal
}

// Message is one record to publish: the publisher's own type, so that the
// pipeline and its tests need not know the Kafka client.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
	// Time is the message's timestamp.
	Time time.Time
}

// Header is a message header.
type Header struct {
	Key   string
	Value []byte
}

// kafkaPage is a page of messages in kafka-go's form, pooled: converting
// a thousand messages a page would otherwise allocate them anew each time.
type kafkaPage struct {
	msgs    []kafka.Message
	headers []kafka.Header
}

var kafkaPages = sync.Pool{New: func() any { return new(kafkaPage) }}

// toKafka converts a page of messages into a pooled kafkaPage.
func toKafka(msgs []Message) *kafkaPage {
	n := 0
	for _, m := range msgs {
		n += len(m.Headers)
	}
	kp := kafkaPages.Get().(*kafkaPage)
	kp.msgs = slices.Grow(kp.msgs[:0], len(msgs))[:len(msgs)]
	kp.headers = slices.Grow(kp.headers[:0], n)
	for i, m := range msgs {
		start := len(kp.headers)
		for _, h := range m.Headers {
			kp.headers = append(kp.headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		kp.msgs[i] = kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: kp.headers[start:len(kp.headers):len(kp.headers)], Time: m.Time}
	}
	return kp
}

// release returns kp to the pool, dropping its references to the page.
func (kp *kafkaPage) release() {
	clear(kp.msgs)
	clear(kp.headers)
	kafkaPages.Put(kp)
}

// Publish writes msgs and returns once all are acknowledged (nil), the
// context ends (its error), or a failure retrying cannot fix happens (a
// *FatalError). Messages must carry their Topic. Retried writes may
// duplicate messages, never lose them.
func (p *Publisher) Publish(ctx context.Context, page []Message) error {
	if len(page) == 0 {
		return nil
	}
	kp := toKafka(page)
	msgs := kp.msgs
	bo := backoff.Backoff{Initial: p.cfg.InitialBackoff, Max: p.cfg.MaxBackoff}
	for attempt := 1; ; attempt++ {
		liveness.Mark(ctx)
		err := p.w.WriteMessages(ctx, msgs...)
		if err == nil {
			p.failingSince.Store(0)
			kp.release() // after a failure kafka-go may still hold them
			if attempt > 1 {
				logctx.From(ctx, p.logger).Info("kafka write succeeded after retries", "messages", len(msgs), "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fatal := classify(err); fatal != nil {
			if fatal.perTopic {
				fatal.Topic = page[0].Topic
			}
			return fatal
		}
		p.failingSince.CompareAndSwap(0, time.Now().UnixNano())
		if d := p.cfg.GiveUpAfter; d > 0 {
			if since := time.Unix(0, p.failingSince.Load()); time.Since(since) > d {
				return fmt.Errorf("kafka writes failed for %s (since %s; this write %d attempts), giving up: %s",
					d, since.UTC().Format(time.RFC3339), attempt, summarize(err))
			}
		}
		if p.cfg.OnRetry != nil {
			p.cfg.OnRetry()
		}
		wait := bo.Next()
		attrs := []any{"messages", len(msgs), "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "error", summarize(err)}
		if h := connectionHint(err); h != "" {
			attrs = append(attrs, "hint", h)
		}
		logctx.From(ctx, p.logger).Warn("kafka write failed, retrying", attrs...)
		if err := backoff.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Ping asks the brokers for the topics' metadata: it proves the brokers
// are reachable, the credentials work and the topics exist.
func (p *Publisher) Ping(ctx context.Context, topics ...string) error {
	// A transport of its own: the writer's caches metadata, and would
	// answer without asking a broker.
	t := &kafka.Transport{ClientID: p.transport.ClientID, DialTimeout: p.transport.DialTimeout, Dial: p.transport.Dial, SASL: p.transport.SASL}
	defer t.CloseIdleConnections()
	client := &kafka.Client{Addr: p.w.Addr, Timeout: p.cfg.WriteTimeout, Transport: t}
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		if fatal := classify(err); fatal != nil {
			return fatal
		}
		return fmt.Errorf("metadata request: %w", withoutGoNames(err))
	}
	for _, t := range resp.Topics {
		if t.Error != nil {
			if fatal := classify(t.Error); fatal != nil {
				if fatal.perTopic {
					fatal.Topic = t.Name
					return fatal
				}
				return fmt.Errorf("topic %s: %w", t.Name, fatal)
			}
			return fmt.Errorf("kafka topic %s: %w", t.Name, t.Error)
		}
	}
	return nil
}

// Check is Ping with its failure explained: nil, a *FatalError (the
// configuration or the brokers' must change), a *netcheck.UnreachableError, or
// another error (a topic's transient error).
func (p *Publisher) Check(ctx context.Context, topics ...string) error {
	err := p.Ping(ctx, topics...)
	var fe *FatalError
	if err == nil || errors.As(err, &fe) {
		return err
	}
	var nk *NotKafkaError
	if errors.As(err, &nk) {
		return &netcheck.UnreachableError{Service: "kafka", Err: nk, Permanent: true, Hint: "fix kafka.brokers (or kafka.tls)"}
	}
	switch netcheck.Classify(err) {
	case netcheck.NotFound, netcheck.Refused:
		return &netcheck.UnreachableError{Service: "kafka", Err: err, Permanent: true, Hint: connectionHint(err)}
	}
	if hint := p.mismatch(ctx); hint != "" {
		return &netcheck.UnreachableError{Service: "kafka", Err: err, Permanent: true, Hint: hint}
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &netcheck.UnreachableError{Service: "kafka", Err: err, Hint: "no broker answered in time: check kafka.brokers, the network and firewalls"}
	}
	if h := connectionHint(err); h != "" {
		return &netcheck.UnreachableError{Service: "kafka", Err: err, Hint: h}
	}
	var we kafka.Error
	if errors.As(err, &we) {
		return err
	}
	return &netcheck.UnreachableError{Service: "kafka", Err: err, Hint: "check kafka.brokers and the network"}
}

// mismatch asks the brokers again the other way, once, to tell a TLS or
// SASL setting their listener does not speak from other trouble (both
// look alike from the client: a timeout, a closed connection). It returns
// the fix, or "".
func (p *Publisher) mismatch(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	metadata := func(tlsOn, saslOn bool) bool {
		var tc *tls.Config
		if tlsOn {
			tc, _ = tlsConfig(p.cfg.TLS)
		}
		t := &kafka.Transport{ClientID: p.transport.ClientID, DialTimeout: 3 * time.Second, Dial: dialBroker(tc)}
		if saslOn {
			t.SASL = p.transport.SASL
		}
		defer t.CloseIdleConnections()
		client := &kafka.Client{Addr: p.w.Addr, Timeout: 3 * time.Second, Transport: t}
		_, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		return err == nil
	}
	tlsOn, saslOn := p.cfg.TLS.Enabled, p.cfg.SASL.Mechanism != ""
	switch {
	case tlsOn && metadata(false, saslOn):
		return "the brokers answer without TLS at these addresses: set kafka.tls.enabled: false, or give the brokers' TLS listener in kafka.brokers"
	case saslOn && metadata(tlsOn, false):
		return "the brokers do not ask for SASL at these addresses: remove kafka.sasl, or give the brokers' SASL listener in kafka.brokers"
	case !saslOn && p.answersBeforeAuth(ctx, tlsOn):
		return "the brokers answer but close the connection at the first request, as a listener that requires SASL does: set kafka.sasl (mechanism, username, password_file)"
	}
	return ""
}

// answersBeforeAuth reports brokers that answer ApiVersions, which Kafka
// serves before authentication, with the TLS setting given.
func (p *Publisher) answersBeforeAuth(ctx context.Context, tlsOn bool) bool {
	var tc *tls.Config
	if tlsOn {
		tc, _ = tlsConfig(p.cfg.TLS)
	}
	t := &kafka.Transport{ClientID: p.transport.ClientID, DialTimeout: 3 * time.Second, Dial: dialBroker(tc)}
	defer t.CloseIdleConnections()
	client := &kafka.Client{Addr: p.w.Addr, Timeout: 3 * time.Second, Transport: t}
	_, err := client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	return err == nil
}

// Close flushes and closes the connections.
func (p *Publisher) Close() error { return p.w.Close() }

// classify returns a *FatalError when err cannot be fixed by retrying, nil
// when it may be.
func classify(err error) *FatalError {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e == nil {
				continue
			}
			if f := classify(e); f != nil {
				return f
			}
		}
		return nil
	}
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return &FatalError{Err: err, Hint: "one record's document is larger than kafka.batch_bytes: raise it (and the topic's max.message.bytes)"}
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.TopicAuthorizationFailed:
			return &FatalError{Err: err, perTopic: true, Hint: "the Kafka principal may not write to this topic: grant it WRITE (and DESCRIBE) on the topic; the connector tries it again at each poll"}
		case kafka.ClusterAuthorizationFailed, kafka.TransactionalIDAuthorizationFailed:
			return &FatalError{Err: err, Hint: "the Kafka principal may not write to this cluster: grant it WRITE (and DESCRIBE) on the topics"}
		case kafka.MessageSizeTooLarge:
			return &FatalError{Err: err, perTopic: true, TooLarge: true, Hint: "a batch exceeds the topic's max.message.bytes: lower kafka.batch_bytes to at most it, keep compression on, or raise the topic's max.message.bytes"}
		case kafka.UnknownTopicOrPartition:
			return &FatalError{Err: err, perTopic: true, Hint: "the topic does not exist: create it (the connector does not create topics; it tries again at each poll)"}
		case kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState:
			return &FatalError{Err: err, Hint: "SASL authentication failed: check kafka.sasl.mechanism, username and password"}
		case kafka.InvalidTopic, kafka.InvalidRequiredAcks, kafka.UnsupportedCompressionType:
			return &FatalError{Err: err, Hint: "the brokers refuse this configuration"}
		}
		return nil
	}
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &certErr):
		return &FatalError{Err: err, Hint: "the brokers' TLS certificate is not trusted: set kafka.tls.ca_file (and server_name)"}
	case errors.As(err, &recordHeader):
		return &FatalError{Err: err, Hint: "the brokers did not answer TLS: check kafka.tls.enabled and the port"}
	}
	return nil
}

// connectionHint explains errors that look like a network failure but are
// usually configuration: kafka-go reports a refused SASL login, or a TLS
// listener spoken to in plain text, as a closed connection.
func connectionHint(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "unexpected EOF") {
		return "the broker closed the connection: if this persists while the broker is up, check kafka.sasl (mechanism, username, password) and kafka.tls.enabled ('duo-connector config check' tells which)"
	}
	// The hints a one-shot run's first check gives, for the daemon's
	// retries too.
	switch netcheck.Classify(err) {
	case netcheck.NotFound:
		return "a broker name in kafka.brokers does not resolve: check its spelling and DNS"
	case netcheck.Refused:
		return "nothing listens at kafka.brokers: check the hosts and ports (and that the brokers run)"
	case netcheck.Untrusted:
		return "the brokers' certificate is not trusted: set kafka.tls.ca_file to their CA"
	}
	return ""
}

// summarize shortens kafka.WriteErrors, which holds one error per message.
func summarize(err error) string {
	var we kafka.WriteErrors
	if !errors.As(err, &we) {
		return err.Error()
	}
	for _, e := range we {
		if e != nil {
			return fmt.Sprintf("%d of %d messages failed: %v", we.Count(), len(we), e)
		}
	}
	return err.Error()
}

// goName is how kafka-go names its methods in errors
// ("kafka.(*Client).Metadata: "): Go, not words for an operator.
var goName = regexp.MustCompile(`kafka\.\(\*\w+\)\.\w+: `)

// plainError is an error whose text leaves kafka-go's method names out;
// it unwraps to the error as kafka-go gave it.
type plainError struct{ err error }

func (e plainError) Error() string { return goName.ReplaceAllString(e.err.Error(), "") }
func (e plainError) Unwrap() error { return e.err }

// withoutGoNames is err with kafka-go's method names left out of its text.
func withoutGoNames(err error) error {
	if err == nil || !goName.MatchString(err.Error()) {
		return err
	}
	return plainError{err}
}
