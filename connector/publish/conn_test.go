package publish_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/netcheck"
	"github.com/duo-connector/duo-connector/connector/publish"
)

// notKafka listens on loopback and answers every connection as an HTTP
// server (or a proxy in front of one) does: with a 403.
func notKafka(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				bufio.NewReader(c).ReadByte() // the client's first bytes
				c.Write([]byte(answer))
				time.Sleep(10 * time.Second) // a keep-alive connection
			}()
		}
	}()
	return ln.Addr().String()
}

// TestNotKafkaIsAnError: a broker address where something else answers (an
// HTTP proxy's 403, a TLS listener) is an error within seconds that says
// so, in Check and in Publish, instead of kafka-go spinning a core on
// decoding its answer (issue 19, item 17).
func TestNotKafkaIsAnError(t *testing.T) {
	for _, tc := range []struct{ name, answer, want string }{
		{"http", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "does not answer as a Kafka broker"},
		{"tls", "\x15\x03\x03\x00\x02\x02\x46", "answers TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := notKafka(t, tc.answer)
			p, err := publish.New(publish.Config{Brokers: []string{addr}, Topic: "duo", GiveUpAfter: 3 * time.Second,
				InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = p.Publish(ctx, []publish.Message{{Topic: "duo", Value: []byte("{}")}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Publish = %v; want an error saying %q", err, tc.want)
			}
			err = p.Check(ctx, "duo")
			var ue *netcheck.UnreachableError
			if !errors.As(err, &ue) || !ue.Permanent || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), addr) {
				t.Fatalf("Check = %v; want a permanent error saying %q", err, tc.want)
			}
		})
	}
}
