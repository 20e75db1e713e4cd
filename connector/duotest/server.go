// Package duotest is a fake Duo Admin API, in the style of net/http/httptest,
// for tests, benchmarks and the local sandbox.
//
// It is faithful enough that Duo's own clients work against it: it checks
// request signatures itself (HMAC-SHA1 and HMAC-SHA512 over the v2 canonical
// string, and the JSON-era v4/v5 strings), serves the four log endpoints and
// telephony v1 with Duo's units, inclusive bounds, limit caps, paging cursors
// and error bodies, hides records younger than Duo's 2-minute delay, returns
// the earliest ~1000 v1 records without splitting a second, in shuffled
// order, and can inject faults.
package duotest

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/internal/redact"
)

// Default credentials of a new Server.
const (
	DefaultIKey = "DIXXXXXXXXXXXXXXXXXX"
	DefaultSKey = "duotest-secret-key-0123456789abcdefghij"
)

// Availability is Duo's intentional delay before a record can be read.
const Availability = 2 * time.Minute

// Horizon is how far back Duo keeps logs.
const Horizon = 180 * 24 * time.Hour

// Server is a running fake Admin API.
type Server struct {
	// URL is the base URL, e.g. https://127.0.0.1:12345.
	URL string
	// Host is host:port, what a client is configured with as api_host.
	Host string
	// IKey and SKey are the credentials requests must be signed with
	// (SKey as at start; see RotateSecret).
	IKey, SKey string
	// CAFile is a PEM file holding the server's certificate, for clients'
	// ca_file.
	CAFile string

	srv    *httptest.Server
	tmpDir string

	mu          sync.Mutex
	skey        string
	now         func() time.Time
	delay       time.Duration
	shuffle     bool
	rng         *rand.Rand
	logs        map[logKey]*store
	faults      []*Fault
	noReadLog   bool
	unlicensed  map[string]bool
	requests    []Request
	keepReqs    bool
	pageLimitV1 int
	v1Trim      bool
	v1Exclusive bool
	addr        string
	inFlight    int
	maxInFlight int
	// inFlightOf and maxInFlightOf count by account and endpoint.
	inFlightOf, maxInFlightOf map[logKey]int
	children                  []duo.ChildAccount
	revoked                   map[string]bool
}

type logKey struct {
	account string
	path    string
}

// Request is one request the server saw.
type Request struct {
	Time    time.Time
	Method  string
	Path    string
	Query   url.Values
	Account string
	Status  int
}

// Option configures a Server.
type Option func(*Server)

// WithKeys sets the credentials requests must be signed with.
func WithKeys(ikey, skey string) Option { return func(s *Server) { s.IKey, s.skey = ikey, skey } }

// WithClock sets the server's clock, which decides which records are old
// enough to be visible and which mintimes are past the horizon.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithDelay sets the availability delay (default 2 minutes).
func WithDelay(d time.Duration) Option { return func(s *Server) { s.delay = d } }

// WithoutShuffle serves v1 pages in time order instead of shuffled.
func WithoutShuffle() Option { return func(s *Server) { s.shuffle = false } }

// WithSeed seeds the v1 page shuffling.
func WithSeed(seed uint64) Option {
	return func(s *Server) { s.rng = rand.New(rand.NewPCG(seed, seed^0x5eed)) }
}

// WithoutRequestLog stops recording requests (for long benchmarks).
func WithoutRequestLog() Option { return func(s *Server) { s.keepReqs = false } }

// WithV1PageSize sets how many records a v1 page holds before it is
// completed to the end of its last second (default 1000).
func WithV1PageSize(n int) Option { return func(s *Server) { s.pageLimitV1 = n } }

// WithV1TrimmedPages ends a v1 page before the second that would take it
// past its size, so that pages are shorter than the size ("more or fewer"
// in Duo's words) whenever a second straddles it; a first second larger
// than a page still comes whole.
func WithV1TrimmedPages() Option { return func(s *Server) { s.v1Trim = true } }

// WithV1MintimeExclusive makes the v1 endpoints read mintime as exclusive
// (records strictly after it), the other reading of Duo's docs.
func WithV1MintimeExclusive() Option { return func(s *Server) { s.v1Exclusive = true } }

// WithAddr listens on addr (host:port) instead of a free loopback port,
// so that a restarted sandbox keeps its address.
func WithAddr(addr string) Option { return func(s *Server) { s.addr = addr } }

// TB is the part of testing.TB that New uses, declared here so that the
// binaries importing this package (the sandbox) do not link testing.
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// New starts a fake Admin API for a test and closes it at the test's end.
func New(tb TB, opts ...Option) *Server {
	tb.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// ClientConfig returns a Duo client configuration for this server, as
// httptest.Server.Client does: its host, keys and CA, no request budget,
// and retries in milliseconds. Tests change what they need.
func (s *Server) ClientConfig() duo.Config {
	s.mu.Lock()
	skey := s.skey
	s.mu.Unlock()
	return duo.Config{
		APIHost: s.Host, IKey: s.IKey, SKey: redact.Secret(skey), CAFile: s.CAFile,
		RequestsPerSecond: math.Inf(1),
		Retry:             duo.RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 20},
	}
}

// NewServer starts a TLS fake Admin API on a loopback port.
func NewServer(opts ...Option) (*Server, error) {
	s := &Server{
		IKey:        DefaultIKey,
		skey:        DefaultSKey,
		now:         time.Now,
		delay:       Availability,
		shuffle:     true,
		rng:         rand.New(rand.NewPCG(1, 2)),
		logs:        map[logKey]*store{},
		keepReqs:    true,
		pageLimitV1: 1000,
	}
	for _, o := range opts {
		o(s)
	}
	s.SKey = s.skey
	handler := http.HandlerFunc(s.serveHTTP)
	cert, err := SelfSignedCert()
	if err != nil {
		return nil, err
	}
	s.srv = httptest.NewUnstartedServer(handler)
	if s.addr != "" {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return nil, fmt.Errorf("duotest: listen on %s: %w", s.addr, err)
		}
		s.srv.Listener.Close()
		s.srv.Listener = ln
	}
	s.srv.EnableHTTP2 = true
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.StartTLS()
	dir, err := os.MkdirTemp("", "duotest-")
	if err != nil {
		s.srv.Close()
		return nil, err
	}
	s.tmpDir = dir
	s.CAFile = filepath.Join(dir, "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.CAFile, certPEM, 0o600); err != nil {
		s.Close()
		return nil, err
	}
	s.URL = s.srv.URL
	s.Host = strings.TrimPrefix(s.URL, "https://")
	return s, nil
}

// Close stops the server and removes its CA file.
func (s *Server) Close() {
	s.srv.Close()
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
	}
}

// RotateSecret changes the secret key requests must be signed with, as
// when an administrator resets it in the Admin Panel.
func (s *Server) RotateSecret(skey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skey = skey
}

// SetReadLogPermission grants or revokes "Grant read log": without it,
// every log endpoint answers 403 40301.
func (s *Server) SetReadLogPermission(granted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noReadLog = !granted
}

// SetLicensed makes one endpoint answer as for an account without the
// feature (Trust Monitor needs the Premier or Advantage edition; the
// activity log is in preview): 403, as Duo answers what the account may
// not read. Duo does not document a code of its own for this case.
func (s *Server) SetLicensed(path string, licensed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unlicensed == nil {
		s.unlicensed = map[string]bool{}
	}
	s.unlicensed[path] = !licensed
}

// AddChild adds an MSP child account to the Accounts API's listing. Its
// api_hostname is this server (children are told apart by account_id);
// its records are added with AddForAccount.
func (s *Server) AddChild(accountID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.children = append(s.children, duo.ChildAccount{AccountID: accountID, Name: name, APIHostname: s.Host})
}

// RemoveChild removes a child account from the listing (its records stay
// readable, as a child's do until Duo deletes it).
func (s *Server) RemoveChild(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.children = slices.DeleteFunc(s.children, func(c duo.ChildAccount) bool { return c.AccountID == accountID })
}

// SetRevoked makes every request for one account (by account_id; "" is
// the account of the keys themselves) answer 403, as when the customer
// removes the application's access.
func (s *Server) SetRevoked(accountID string, revoked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked == nil {
		s.revoked = map[string]bool{}
	}
	s.revoked[accountID] = revoked
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the requests seen so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Fault is an injected failure. The next Count requests to Path (any log
// endpoint when empty) get it instead of their normal answer.
type Fault struct {
	Path string
	// Account, when set, limits the fault to requests with that
	// account_id.
	Account string
	// Count is how many requests get the fault (default 1).
	Count int
	// Status, when set, is answered with Duo's error body for that status
	// (429 → 42901, 500 → 50001, ...).
	Status int
	// RetryAfter, with Status 429, adds a Retry-After header (seconds).
	RetryAfter int
	// Delay holds the response this long first (a slow Duo).
	Delay time.Duration
	// Truncate sends a 200 whose JSON body is cut in half.
	Truncate bool
	// EmptyWithOffset answers a v2 request with no records but a new
	// next_offset that skips none of them (Duo may end a page early).
	EmptyWithOffset bool
	// StuckOffset answers a v2 request with no records and the
	// next_offset it was sent (one at its mintime when none was): a Duo
	// whose paging never moves.
	StuckOffset bool
}

// Inject queues faults; each is used for its Count requests, in order.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Count == 0 {
			f.Count = 1
		}
		s.faults = append(s.faults, &f)
	}
}

// PendingFaults returns how many injected fault uses remain.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.Count
	}
	return n
}

// takeFault returns the first queued fault matching path.
func (s *Server) takeFault(path, account string) *Fault {
	for i, f := range s.faults {
		if f.Path != "" && f.Path != path || f.Account != "" && f.Account != account {
			continue
		}
		f.Count--
		if f.Count <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

var logPaths = map[string]bool{
	duo.PathAuthV2: true, duo.PathTelephonyV2: true, duo.PathTelephonyV1: true,
	duo.PathAdmin: true, duo.PathOffline: true, duo.PathActivity: true, duo.PathTrustMonitor: true,
}

// MaxInFlight returns the most requests the server has served at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// MaxInFlightOf returns the most requests of one endpoint for one account
// (its account_id; "" for the keys' own) the server has served at once.
func (s *Server) MaxInFlightOf(account, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlightOf[logKey{account, path}]
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	k := logKey{r.URL.Query().Get("account_id"), r.URL.Path}
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	if s.inFlightOf == nil {
		s.inFlightOf, s.maxInFlightOf = map[logKey]int{}, map[logKey]int{}
	}
	s.inFlightOf[k]++
	s.maxInFlightOf[k] = max(s.maxInFlightOf[k], s.inFlightOf[k])
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.inFlightOf[k]--
		s.mu.Unlock()
	}()
	// The request is logged as its answer starts, not after: a client can
	// read the whole answer and look at Requests before serve returns.
	lw := &loggingWriter{ResponseWriter: w, log: func(status int) {
		if !s.keepReqs {
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			Account: r.URL.Query().Get("account_id"), Status: status,
		})
		s.mu.Unlock()
	}}
	status := s.serve(lw, r)
	if !lw.logged { // no answer (the client went away)
		lw.logged = true
		lw.log(status)
	}
}

// loggingWriter calls log with the status when the answer starts.
type loggingWriter struct {
	http.ResponseWriter
	log    func(status int)
	logged bool
}

func (w *loggingWriter) WriteHeader(status int) {
	if !w.logged {
		w.logged = true
		w.log(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *loggingWriter) Write(b []byte) (int, error) {
	if !w.logged {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) int {
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat)) // Duo's clock is the fake's
	if r.URL.Path == duo.PathAccountList {
		return s.serveAccountList(w, r)
	}
	if !logPaths[r.URL.Path] {
		return fail(w, http.StatusNotFound, 40401, "Resource not found", "")
	}
	if r.Method != http.MethodGet {
		return fail(w, http.StatusMethodNotAllowed, 40501, "Method not allowed", "")
	}
	s.mu.Lock()
	account := r.URL.Query().Get("account_id")
	skey, noReadLog := s.skey, s.noReadLog || s.unlicensed[r.URL.Path] || s.revoked[account]
	fault := s.takeFault(r.URL.Path, account)
	s.mu.Unlock()
	if status, code, msg := s.authenticate(r, skey); status != 0 {
		return fail(w, status, code, msg, "")
	}
	if fault != nil {
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return 0
			}
		}
		if fault.Status != 0 {
			if fault.RetryAfter > 0 {
				w.Header().Set("Retry-After", fmt.Sprint(fault.RetryAfter))
			}
			return fail(w, fault.Status, fault.Status*100+1, http.StatusText(fault.Status), "")
		}
	}
	if noReadLog {
		return fail(w, http.StatusForbidden, 40301, "Access forbidden", "")
	}
	var body []byte
	var status int
	switch r.URL.Path {
	case duo.PathAuthV2, duo.PathTelephonyV2, duo.PathActivity, duo.PathTrustMonitor:
		if fault != nil && fault.StuckOffset {
			body, status = stuckV2(r), http.StatusOK
			break
		}
		body, status = s.serveV2(r, fault != nil && fault.EmptyWithOffset)
	default:
		body, status = s.serveV1(r)
	}
	if fault != nil && fault.Truncate && status == http.StatusOK {
		body = body[:len(body)/2]
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
	return status
}

// serveAccountList answers the Accounts API's child listing.
func (s *Server) serveAccountList(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		return fail(w, http.StatusMethodNotAllowed, 40501, "Method not allowed", "")
	}
	s.mu.Lock()
	skey := s.skey
	fault := s.takeFault(r.URL.Path, "")
	body, _ := json.Marshal(map[string]any{"stat": "OK", "response": append([]duo.ChildAccount{}, s.children...)})
	s.mu.Unlock()
	if status, code, msg := s.authenticate(r, skey); status != 0 {
		return fail(w, status, code, msg, "")
	}
	if fault != nil && fault.Status != 0 {
		return fail(w, fault.Status, fault.Status*100+1, http.StatusText(fault.Status), "")
	}
	w.Write(body)
	return http.StatusOK
}

// fail writes Duo's error envelope.
func fail(w http.ResponseWriter, status, code int, msg, detail string) int {
	w.WriteHeader(status)
	io.WriteString(w, failBody(code, msg, detail))
	return status
}

func failBody(code int, msg, detail string) string {
	b := fmt.Sprintf(`{"stat":"FAIL","code":%d,"message":%q`, code, msg)
	if detail != "" {
		b += fmt.Sprintf(`,"message_detail":%q`, detail)
	}
	return b + "}"
}
