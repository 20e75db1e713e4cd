package publish_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/duo-connector/duo-connector/connector/duotest"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
	"github.com/duo-connector/duo-connector/connector/publish"
)

func messages(topic string, n int) []publish.Message {
	msgs := make([]publish.Message, n)
	for i := range msgs {
		id := fmt.Sprintf("txid-%05d", i)
		msgs[i] = publish.Message{
			Topic: topic, Key: []byte(id),
			Value:   []byte(fmt.Sprintf(`{"message":"record %d","event":{"dataset":"auth_log"},"pad":"%s"}`, i, strings.Repeat("x", 1500))),
			Headers: []publish.Header{{Key: "event.id", Value: []byte(id)}, {Key: "duo.eventtype", Value: []byte("auth_log")}},
			Time:    time.Date(2026, 11, 20, 12, 0, 0, i*1000, time.UTC),
		}
	}
	return msgs
}

func newPublisher(t *testing.T, cfg publish.Config) *publish.Publisher {
	t.Helper()
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff, cfg.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
	}
	p, err := publish.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func readAll(t *testing.T, addr string, topics ...string) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.ReadAll(ctx, addr, topics...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, r := range recs {
		if _, dup := out[string(r.Key)]; dup {
			t.Errorf("key %s read twice", r.Key)
		}
		out[string(r.Key)] = r.Value
		if len(r.Headers) != 2 || r.Headers[0].Key != "event.id" || string(r.Headers[0].Value) != string(r.Key) {
			t.Errorf("headers of %s: %v", r.Key, r.Headers)
		}
	}
	return out
}

// TestPublishEveryCodec writes a page in each compression codec and reads
// it back with an independent client.
func TestPublishEveryCodec(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			b := kafkatest.NewBroker(t, 3, "duo")
			p := newPublisher(t, publish.Config{Brokers: []string{b.Addr}, Topic: "duo", Compression: codec})
			msgs := messages("duo", 1000)
			if err := p.Publish(context.Background(), msgs); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, b.Addr, "duo")
			if len(got) != len(msgs) {
				t.Fatalf("read %d messages, wrote %d", len(got), len(msgs))
			}
			for _, m := range msgs {
				if string(got[string(m.Key)]) != string(m.Value) {
					t.Fatalf("message %s differs", m.Key)
				}
			}
		})
	}
}

func TestTopicTemplate(t *testing.T) {
	if got := publish.TopicFor("duo.{dataset}", "auth_log", "auth", "acme"); got != "duo.auth_log" {
		t.Errorf("TopicFor = %q", got)
	}
	if got := publish.TopicFor("logs-{log}", "auth_log", "auth", "acme"); got != "logs-auth" {
		t.Errorf("TopicFor = %q", got)
	}
	if got := publish.TopicFor("duo", "auth_log", "auth", "acme"); got != "duo" {
		t.Errorf("TopicFor = %q", got)
	}
}

func TestValidate(t *testing.T) {
	err := publish.Config{Brokers: []string{"nohost"}, Topic: "duo.{x}", RequiredAcks: "most", Compression: "brotli",
		TLS: publish.TLSConfig{CertFile: "c.pem"}, SASL: publish.SASLConfig{Mechanism: "GSSAPI"}}.Validate()
	for _, w := range []string{"brokers", "topic", "required_acks", "compression", "tls.cert_file", "sasl.mechanism"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v; want it to name %s", err, w)
		}
	}
	if err := (publish.Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "duo"}).Validate(); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

// TestRetriesBeyondKafkaGo: more retriable broker errors than kafka-go's
// own attempts are absorbed by ours.
func TestRetriesBeyondKafkaGo(t *testing.T) {
	b := kafkatest.NewBroker(t, 1, "duo")
	b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: 12})
	p := newPublisher(t, publish.Config{Brokers: []string{b.Addr}, Topic: "duo"})
	if err := p.Publish(context.Background(), messages("duo", 100)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b.Addr, "duo"); len(got) != 100 {
		t.Fatalf("read %d messages, want 100", len(got))
	}
}

// TestFatalErrors: errors retrying cannot fix end Publish with a hint.
func TestFatalErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault *kerr.Error
		topic string
		hint  string
	}{
		{"topic authorization", kerr.TopicAuthorizationFailed, "duo", "WRITE"},
		{"message too large", kerr.MessageTooLarge, "duo", "max.message.bytes"},
		{"unknown topic", nil, "nosuchtopic", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := kafkatest.NewBroker(t, 1, "duo")
			if tc.fault != nil {
				b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: tc.fault, Count: -1})
			}
			p := newPublisher(t, publish.Config{Brokers: []string{b.Addr}, Topic: tc.topic})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := p.Publish(ctx, messages(tc.topic, 10))
			var fe *publish.FatalError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("err = %v; want a FatalError mentioning %q", err, tc.hint)
			}
		})
	}
}

// TestBrokerDownAtStart: a write started while no broker listens waits
// for it, then succeeds.
func TestBrokerDownAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("slow end-to-end test; skipped with -short")
	}
	b, err := kafkatest.Start(1, []string{"duo"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	b.Stop()
	p := newPublisher(t, publish.Config{Brokers: []string{b.Addr}, Topic: "duo"})
	done := make(chan error, 1)
	go func() { done <- p.Publish(context.Background(), messages("duo", 50)) }()
	select {
	case err := <-done:
		t.Fatalf("Publish returned %v while the broker was down", err)
	case <-time.After(2 * time.Second):
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b.Addr, "duo"); len(got) != 50 {
		t.Fatalf("read %d messages, want 50", len(got))
	}
}

// TestTLSAndSASL: the publisher speaks TLS with a custom CA and each SASL
// mechanism to a broker that requires them.
func TestTLSAndSASL(t *testing.T) {
	caFile, serverTLS := testTLS(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			b, err := kafkatest.Start(1, []string{"duo"}, "", kfake.TLS(serverTLS), kfake.EnableSASL(),
				kfake.Superuser(mech, "connector", "s3cret-pass"))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Stop()
			p := newPublisher(t, publish.Config{Brokers: []string{b.Addr}, Topic: "duo",
				TLS:  publish.TLSConfig{Enabled: true, CAFile: caFile},
				SASL: publish.SASLConfig{Mechanism: mech, Username: "connector", Password: "s3cret-pass"}})
			if err := p.Ping(context.Background(), "duo"); err != nil {
				t.Fatal(err)
			}
			if err := p.Publish(context.Background(), messages("duo", 10)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func testTLS(t *testing.T) (caFile string, cfg *tls.Config) {
	t.Helper()
	cert, err := duotest.SelfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	return caFile, &tls.Config{Certificates: []tls.Certificate{cert}}
}

// TestGiveUpAfter: with GiveUpAfter set, a write to an unreachable broker
// ends with an error instead of retrying forever.
func TestGiveUpAfter(t *testing.T) {
	b := kafkatest.NewBroker(t, 1, "duo")
	addr := b.Addr
	b.Stop()
	var retries atomic.Int64
	p := newPublisher(t, publish.Config{Brokers: []string{addr}, Topic: "duo", GiveUpAfter: 500 * time.Millisecond, OnRetry: func() { retries.Add(1) }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.Publish(ctx, messages("duo", 5))
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("Publish = %v (context: %v)", err, ctx.Err())
	}
	if retries.Load() == 0 {
		t.Error("the retries were not counted")
	}
	// The bound is the publisher's, not one write's: a later write (of
	// another log of the same one-shot run) gives up at its first failure
	// (issue 19, item 18: each page slot waited its own five minutes).
	err = p.Publish(ctx, messages("duo", 5))
	if err == nil || !strings.Contains(err.Error(), "this write 1 attempts") {
		t.Fatalf("second Publish = %v; want it to give up at once", err)
	}
}

// BenchmarkPublish publishes one page (1,000 messages of about 1.6 KB, as
// an auth page's documents) per op to kfake over loopback, lz4 and
// acks=all: the per-page cost of the Kafka side, and its garbage (kafka-go
// allocates room for BatchSize messages per batch, and asked its transport
// for the topic's partitions once per message).
func BenchmarkPublish(b *testing.B) {
	broker, err := kafkatest.Start(6, []string{"duo"}, "")
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Stop()
	p, err := publish.New(publish.Config{Brokers: []string{broker.Addr}, Topic: "duo"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	msgs := messages("duo", 1000)
	ctx := context.Background()
	if err := p.Publish(ctx, msgs); err != nil { // connections and metadata
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msgs) * len(msgs[0].Value)))
	for b.Loop() {
		if err := p.Publish(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTLSAndSASLMismatchTold: config check tells a TLS or SASL setting
// the brokers' listener does not speak from the other: TLS against a
// plaintext listener, SASL against a listener without it, no SASL against
// one that requires it (issue 21, item 9).
func TestTLSAndSASLMismatchTold(t *testing.T) {
	caFile, _ := testTLS(t)
	plainBroker := kafkatest.NewBroker(t, 1, "duo")
	saslBroker, err := kafkatest.Start(1, []string{"duo"}, "", kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "connector", "s3cret-pass"))
	if err != nil {
		t.Fatal(err)
	}
	defer saslBroker.Stop()
	sasl := publish.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "connector", Password: "s3cret-pass"}
	for _, tc := range []struct {
		name string
		cfg  publish.Config
		want string
	}{
		{"tls to a plaintext listener", publish.Config{Brokers: []string{plainBroker.Addr}, TLS: publish.TLSConfig{Enabled: true, CAFile: caFile}}, "answer without TLS at these addresses: set kafka.tls.enabled: false"},
		{"sasl to a listener without it", publish.Config{Brokers: []string{plainBroker.Addr}, SASL: sasl}, "do not ask for SASL"},
		{"no sasl to a listener that requires it", publish.Config{Brokers: []string{saslBroker.Addr}}, "requires SASL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Topic, tc.cfg.WriteTimeout = "duo", 5*time.Second
			p := newPublisher(t, tc.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.Check(ctx, "duo"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v; want it to say %q", err, tc.want)
			}
		})
	}
}
