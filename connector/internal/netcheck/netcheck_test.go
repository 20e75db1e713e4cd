package netcheck_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/netcheck"
)

// TestClassify dials real failures on loopback and in the resolver.
func TestClassify(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, refused := net.DialTimeout("tcp", closed, time.Second)

	_, notFound := net.DefaultResolver.LookupHost(context.Background(), "no-such-host.invalid")

	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	_, untrusted := http.Get(srv.URL)

	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	conn, err := tls.Dial("tcp", plain.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
	}
	notTLS := err

	for _, tc := range []struct {
		name string
		err  error
		want netcheck.Kind
	}{
		{"refused", refused, netcheck.Refused},
		{"not found", notFound, netcheck.NotFound},
		{"untrusted", untrusted, netcheck.Untrusted},
		{"not TLS", notTLS, netcheck.NotTLS},
		{"timeout", context.DeadlineExceeded, netcheck.Transient},
	} {
		if got := netcheck.Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
