package duotest

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authenticate checks the Authorization and Date headers as Duo does. It
// returns a zero status when the request is signed correctly.
func (s *Server) authenticate(r *http.Request, skey string) (status, code int, msg string) {
	user, sig, ok := basicAuth(r.Header.Get("Authorization"))
	if !ok {
		return http.StatusUnauthorized, 40101, "Missing request credentials"
	}
	if user != s.IKey {
		return http.StatusUnauthorized, 40102, "Invalid integration key in request credentials"
	}
	date := r.Header.Get("Date")
	if date == "" {
		date = r.Header.Get("X-Duo-Date")
	}
	if _, err := parseDate(date); err != nil {
		return http.StatusUnauthorized, 40104, "Missing request timestamp"
	}
	if !signatureValid(r, date, sig, skey) {
		return http.StatusUnauthorized, 40103, "Invalid signature in request credentials"
	}
	return 0, 0, ""
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, "Mon, 02 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparsable date %q", s)
}

func basicAuth(h string) (user, pass string, ok bool) {
	const prefix = "Basic "
	if !strings.HasPrefix(h, prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(h[len(prefix):])
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

// signatureValid recomputes the signature from the request itself, for
// every canonical form Duo's clients use, independently of any client
// library: v2 (date, method, host, path, params) with HMAC-SHA1 or
// HMAC-SHA512; v4 (v2 plus the body's SHA-512) and v5 (v4 plus the
// additional headers' SHA-512), with HMAC-SHA512.
func signatureValid(r *http.Request, date, sig, skey string) bool {
	params := r.URL.Query()
	var body string
	if r.Body != nil && r.Method != http.MethodGet {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		body = string(b)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			params, _ = url.ParseQuery(body)
		}
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	// Clients sign the host as they were configured with it: Go's with
	// the port (part of api_host), Python's without (port is separate).
	hosts := []string{r.Host}
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		hosts = append(hosts, h)
	}
	bodyHash, empty := sha512hex(body), sha512hex("")
	for _, host := range hosts {
		base := strings.Join([]string{
			date, strings.ToUpper(r.Method), strings.ToLower(host), r.URL.Path, canonParams(params),
		}, "\n")
		candidates := []struct {
			canon string
			mac   func() hash.Hash
		}{
			{base, sha1.New},
			{base, sha512.New},
			{base + "\n" + bodyHash, sha512.New},
			{base + "\n" + bodyHash + "\n" + empty, sha512.New},
		}
		for _, c := range candidates {
			m := hmac.New(c.mac, []byte(skey))
			m.Write([]byte(c.canon))
			if hmac.Equal(m.Sum(nil), got) {
				return true
			}
		}
	}
	return false
}

// canonParams is Duo's parameter canonicalization: keys and each key's
// values sorted, RFC 3986 percent-encoding (space as %20).
func canonParams(params url.Values) string {
	sorted := make(url.Values, len(params))
	for k, v := range params {
		vs := append([]string(nil), v...)
		sortStrings(vs)
		sorted[k] = vs
	}
	return strings.ReplaceAll(sorted.Encode(), "+", "%20")
}

func sha512hex(s string) string {
	h := sha512.Sum512([]byte(s))
	return hex.EncodeToString(h[:])
}
