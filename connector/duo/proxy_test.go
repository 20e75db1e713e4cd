package duo_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// newConnectProxy starts an HTTP CONNECT proxy on loopback and returns its
// URL; seen is called with each CONNECT target.
func newConnectProxy(t *testing.T, seen func(host string)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		seen(r.Host)
		upstream, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { io.Copy(upstream, conn); upstream.Close() }()
		io.Copy(conn, upstream)
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
