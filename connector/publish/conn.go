package publish

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// NotKafkaError is a peer that does not answer as a Kafka broker: an HTTP
// server or proxy, a REST proxy's port, a TLS listener spoken to in plain
// text. kafka-go would take its first bytes for the size of a response
// and spin on them; every connection checks them first.
type NotKafkaError struct {
	Addr string
	// TLS: the peer answered with a TLS record.
	TLS bool
}

func (e *NotKafkaError) Error() string {
	if e.TLS {
		return fmt.Sprintf("%s answers TLS, not plain Kafka: set kafka.tls.enabled: true (or use the broker's plaintext port)", e.Addr)
	}
	return fmt.Sprintf("%s does not answer as a Kafka broker: check the port in kafka.brokers (an HTTP server, proxy or REST proxy is not a broker)", e.Addr)
}

// maxResponse is far above any response the connector asks for (produce
// acknowledgements, metadata, fetches of cursors): a first size above it
// is not Kafka.
const maxResponse = 256 << 20

// dialBroker connects to brokers: TLS when tc is set, and every connection
// checked by guardedConn. It stands in for kafka-go's own dialing (whose
// TLS is then left off), so that the check sees the bytes after TLS.
func dialBroker(tc *tls.Config) func(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		if tc != nil {
			cfg := tc.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(address)
			}
			c := tls.Client(conn, cfg)
			if err := c.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = c
		}
		return &guardedConn{Conn: conn, addr: address}, nil
	}
}

// guardedConn checks that the first response on a connection starts as a
// Kafka response does: with a size that fits.
type guardedConn struct {
	net.Conn
	addr    string
	checked bool
	pending []byte // the checked head, not yet read by the client
	err     error  // the peer is not Kafka: every read fails so
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.checked {
		head := make([]byte, 4)
		n, err := io.ReadFull(c.Conn, head)
		if n > 0 && !plausibleHead(head[:n]) {
			// Closed, and failing every read from now on: the client
			// would otherwise try to read the rest of a "response".
			c.err = &NotKafkaError{Addr: c.addr, TLS: n >= 2 && (head[0] == 0x15 || head[0] == 0x16) && head[1] == 0x03}
			c.Conn.Close()
			return 0, c.err
		}
		if err != nil {
			return 0, err
		}
		c.checked, c.pending = true, head
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// plausibleHead reports whether head (up to 4 bytes) may begin a Kafka
// response: a big-endian size of at least 4 bytes (the correlation id)
// and at most maxResponse.
func plausibleHead(head []byte) bool {
	if head[0] >= 0x10 { // 256 MiB or more: text, or a TLS record
		return false
	}
	if len(head) < 4 {
		return true
	}
	size := binary.BigEndian.Uint32(head)
	return size >= 4 && size <= maxResponse
}
