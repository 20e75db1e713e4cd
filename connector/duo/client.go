// Package duo is the connector's client for the Duo Admin API: signed GET
// requests through github.com/duosecurity/duo_api_golang, made cancellable,
// paced by a per-account request budget, retried with our own backoff, and
// with Duo's error bodies turned into errors that say what to fix.
package duo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duoapi "github.com/duosecurity/duo_api_golang"

	"github.com/duo-connector/duo-connector/connector/internal/backoff"
	"github.com/duo-connector/duo-connector/connector/internal/liveness"
	"github.com/duo-connector/duo-connector/connector/internal/logctx"
	"github.com/duo-connector/duo-connector/connector/internal/redact"
	"github.com/duo-connector/duo-connector/normalize/jsonscan"
)

// Config configures a Client. It is also the duo section of the
// connector's configuration file, decoded straight into it (the yaml tags
// are the keys). Zero values take the defaults noted; negative ones are
// refused by Validate.
type Config struct {
	// APIHost is the Admin API hostname, e.g. api-xxxxxxxx.duosecurity.com,
	// optionally with :port.
	APIHost string `yaml:"api_host"`
	// IKey and SKey are the Admin API application's integration and secret
	// keys.
	IKey string        `yaml:"ikey"`
	SKey redact.Secret `yaml:"skey"`
	// SKeyFile names a file holding SKey: the configuration loader reads
	// it (the client uses SKey only).
	SKeyFile string `yaml:"skey_file"`
	// AccountID, when set, is sent as account_id on every request (MSP child
	// accounts through an Accounts API application).
	AccountID string `yaml:"account_id"`
	// KeysAt names where the configuration sets this account's api_host,
	// ikey and skey, for the hints of errors (default "duo"; an item of
	// accounts: "accounts[2] (us-east)").
	KeysAt string `yaml:"-"`
	// CAFile, when set, is a PEM bundle trusted instead of the Duo root CAs
	// the client library pins (for TLS-intercepting proxies and tests).
	CAFile string `yaml:"ca_file"`
	// Proxy is an explicit proxy URL. When empty, HTTPS_PROXY and NO_PROXY
	// from the environment apply.
	Proxy string `yaml:"proxy"`
	// Timeout bounds one HTTP request (default 60s).
	Timeout time.Duration `yaml:"timeout"`
	// RequestsPerSecond is the request budget shared by every call made
	// through the Client (default 0.5, one request every 2 s; +Inf, .inf
	// in YAML: unlimited, for tests and benchmarks against a fake).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Retry sets the backoff for 429s, 5xx and network errors.
	Retry RetryConfig `yaml:"retry"`
	// UserAgent prefixes the library's User-Agent.
	UserAgent string `yaml:"-"`
	// Logger receives retry messages (default: discard).
	Logger *slog.Logger `yaml:"-"`
	// Observer, when set, is told about every request, retry and skew
	// measurement.
	Observer Observer `yaml:"-"`
	// Now is the local clock the skew to Duo's is measured against
	// (default time.Now; tests share a fake one with the readers).
	Now func() time.Time `yaml:"-"`
}

// Observer receives what the client does, for metrics.
type Observer interface {
	// Request reports one HTTP request: its path, status (0 when no
	// response came) and duration.
	Request(path string, status int, d time.Duration)
	// Retry reports that a failed request will be tried again.
	Retry(path string, err error)
	// Skew reports the local clock minus Duo's, from a response's Date.
	Skew(d time.Duration)
}

// SkewWarning is the clock skew from Duo past which the client warns: it
// breaks request signatures long before, and eats into the lag that keeps
// late records from being missed.
const SkewWarning = 30 * time.Second

// RetryConfig is the backoff policy for transient failures.
type RetryConfig struct {
	// InitialBackoff is the first wait (default 2s); each retry doubles it.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff caps one wait (default 64s).
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxAttempts is how many times one request is tried before the
	// transient error is returned (default 8).
	MaxAttempts int `yaml:"max_attempts"`
}

// DefaultConfig returns the defaults of every optional setting: the one
// place they are defined (the connector's configuration starts from it).
func DefaultConfig() Config {
	return Config{
		Timeout:           60 * time.Second,
		RequestsPerSecond: 0.5,
		Retry:             RetryConfig{InitialBackoff: 2 * time.Second, MaxBackoff: 64 * time.Second, MaxAttempts: 8},
		UserAgent:         "duo-connector",
	}
}

func (c *Config) setDefaults() {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.RequestsPerSecond == 0 {
		c.RequestsPerSecond = d.RequestsPerSecond
	}
	if c.Retry.InitialBackoff == 0 {
		c.Retry.InitialBackoff = d.Retry.InitialBackoff
	}
	if c.Retry.MaxBackoff == 0 {
		c.Retry.MaxBackoff = d.Retry.MaxBackoff
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = d.Retry.MaxAttempts
	}
	if c.UserAgent == "" {
		c.UserAgent = d.UserAgent
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every setting that cannot work, each named by its key
// in the configuration file (the caller adds the section's prefix), with
// its default. Zero values stand for their defaults.
func (c Config) Validate() error {
	var errs []error
	if c.APIHost == "" {
		errs = append(errs, errors.New("api_host is missing: set it to the Admin API hostname from the Duo Admin Panel (api-xxxxxxxx.duosecurity.com)"))
	} else if strings.ContainsAny(c.APIHost, "/ ") {
		errs = append(errs, fmt.Errorf("api_host %q: give the bare host[:port], without https:// or a path", c.APIHost))
	}
	if c.IKey == "" {
		errs = append(errs, errors.New("ikey is missing: set it to the Admin API application's integration key"))
	}
	if c.SKey.Value() == "" {
		errs = append(errs, errors.New("skey is missing: set skey_file (a file holding the Admin API application's secret key), or skey"))
	}
	d := DefaultConfig()
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must be above 0 (default %s)", d.Timeout))
	}
	if c.RequestsPerSecond < 0 || math.IsNaN(c.RequestsPerSecond) {
		errs = append(errs, fmt.Errorf("requests_per_second must be above 0 (default %g; .inf: unlimited)", d.RequestsPerSecond))
	}
	if c.Retry.InitialBackoff < 0 {
		errs = append(errs, fmt.Errorf("retry.initial_backoff must be above 0 (default %s)", d.Retry.InitialBackoff))
	}
	if c.Retry.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("retry.max_backoff must be above 0 (default %s)", d.Retry.MaxBackoff))
	}
	if c.Retry.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("retry.max_attempts must be at least 1 (default %d)", d.Retry.MaxAttempts))
	}
	if c.Proxy != "" {
		if u, err := url.Parse(c.Proxy); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("proxy %q is not a URL such as http://proxy.example:3128", redact.URL(c.Proxy)))
		}
	}
	if c.Retry.MaxBackoff > 0 && c.Retry.InitialBackoff > c.Retry.MaxBackoff {
		errs = append(errs, errors.New("retry: initial_backoff must be at most max_backoff"))
	}
	return errors.Join(errs...)
}

// Client makes signed Admin API calls. It is safe for concurrent use; every
// call through one Client shares its request budget.
type Client struct {
	cfg       Config
	api       *duoapi.DuoApi
	transport http.RoundTripper
	budget    *Budget
	logger    *slog.Logger

	bodies     *bodyPool    // response bodies, reused (shared with ForAccount's clients)
	skew       atomic.Int64 // local minus Duo, ns; valid once skewKnown
	skewKnown  atomic.Bool
	skewWarned atomic.Int64 // the skew last warned about, ns

	// retry is the account's backoff, across calls, and the failures in a
	// row of each endpoint (a log's requests: their attempt numbers).
	retry struct {
		mu       sync.Mutex
		failures map[string]int
		bo       backoff.Backoff
	}
}

// NewClient returns a Client for cfg.
func NewClient(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("duo ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("duo ca_file %s: no PEM certificates found", cfg.CAFile)
		}
	}
	proxy := http.ProxyFromEnvironment
	if cfg.Proxy != "" {
		u, err := url.Parse(cfg.Proxy)
		if err != nil { // its error would repeat the password
			return nil, fmt.Errorf("duo proxy %q is not a URL", redact.URL(cfg.Proxy))
		}
		proxy = http.ProxyURL(u)
	}
	var transport *http.Transport
	api := duoapi.NewDuoApi(cfg.IKey, cfg.SKey.Value(), cfg.APIHost, cfg.UserAgent,
		duoapi.SetProxy(proxy),
		duoapi.SetTransport(func(t *http.Transport) {
			// Keep the library's pinned roots unless a CA file replaces them.
			if roots != nil {
				t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
			}
			t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
			t.TLSHandshakeTimeout = 30 * time.Second
			t.ResponseHeaderTimeout = cfg.Timeout
			t.IdleConnTimeout = 90 * time.Second
			// HTTP/1.1, as the library's own transport: an account has a
			// request or two in flight per log, each a megabyte read
			// whole, where HTTP/2's framing and flow control cost some
			// 0.5 µs per record (BenchmarkBackfill) for no gain.
			t.MaxIdleConnsPerHost = 8
			// Shared by every account's client: with thousands of accounts,
			// each at its own API host, keep a bounded number of idle
			// connections (the least recently used go first).
			t.MaxIdleConns = 64
			t.ForceAttemptHTTP2 = false
			t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			transport = t
		}))
	return &Client{
		cfg:       cfg,
		api:       api,
		transport: transport,
		budget:    NewBudget(cfg.RequestsPerSecond),
		logger:    cfg.Logger,
		bodies:    new(bodyPool),
	}, nil
}

// Account is what sets one Duo account's client apart from another's:
// where requests go, how they are signed, the MSP child they are for,
// and the account's own request budget.
type Account struct {
	APIHost, IKey string
	SKey          redact.Secret
	// AccountID, when set, is sent as account_id (an MSP child account,
	// with the parent's Accounts API keys).
	AccountID string
	// KeysAt is Config.KeysAt for this account ("": the client's).
	KeysAt string
	// RequestsPerSecond is the account's budget (0: the client's).
	RequestsPerSecond float64
}

// ForAccount returns a client for another account that shares c's HTTP
// transport (its connections, trusted roots and proxy), response buffers,
// timeouts, retry policy and observer, with a request budget and a clock
// skew of its own: Duo limits each account on its own, and a thousand
// accounts need not mean a thousand connection pools.
func (c *Client) ForAccount(a Account) (*Client, error) {
	cfg := c.cfg
	cfg.APIHost, cfg.IKey, cfg.SKey, cfg.AccountID = a.APIHost, a.IKey, a.SKey, a.AccountID
	if a.KeysAt != "" {
		cfg.KeysAt = a.KeysAt
	}
	if a.RequestsPerSecond != 0 {
		cfg.RequestsPerSecond = a.RequestsPerSecond
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	api := duoapi.NewDuoApi(cfg.IKey, cfg.SKey.Value(), cfg.APIHost, cfg.UserAgent)
	api.SetCustomHTTPClient(nil) // every call sets its own; drop the library's transport
	return &Client{
		cfg:       cfg,
		api:       api,
		transport: c.transport,
		budget:    NewBudget(cfg.RequestsPerSecond),
		logger:    c.logger,
		bodies:    c.bodies,
	}, nil
}

// CloseIdleConnections closes the idle connections of the transport the
// client shares with its ForAccount clients.
func (c *Client) CloseIdleConnections() {
	if t, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// APIHost returns the host the client sends to.
func (c *Client) APIHost() string { return c.cfg.APIHost }

// Response is a successful call's result.
type Response struct {
	// Body is the envelope's "response" member, as Duo sent it.
	Body json.RawMessage
	// ServerDate is Duo's Date header (zero when absent).
	ServerDate time.Time
	// Attempts is how many requests the call took.
	Attempts int
	release  func()
}

// Release gives the response's buffer back for the next call: Body must
// not be used after. Not calling it is no leak, only garbage.
func (r *Response) Release() {
	if r != nil && r.release != nil {
		r.release()
		r.release = nil
	}
}

// Get performs one signed GET of path with params, at most: it never
// waits. It returns the envelope's "response" member on success; a
// *RetryLaterError saying how long to wait when the account's request
// budget is spent or a transient failure is to be tried again (the
// backoff is the account's, kept across calls, and every call of the
// account waits it out); an *APIError for what Duo reports as permanent;
// a *TransientError once Retry.MaxAttempts failures came in a row. A
// scheduler serving many accounts sets the call aside and serves another
// account meanwhile; a caller with nothing else to do uses Await.
func (c *Client) Get(ctx context.Context, path string, params url.Values) (*Response, error) {
	return c.try(ctx, http.MethodGet, path, c.withAccount(params))
}

// RetryLaterError is a call that was not made, or failed and is worth
// making again: the caller tries again after Wait.
type RetryLaterError struct {
	Wait time.Duration
	Err  error // nil: only the budget was spent
}

func (e *RetryLaterError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("request budget spent; retry in %s", e.Wait.Round(time.Millisecond))
	}
	return fmt.Sprintf("%v; retry in %s", e.Err, e.Wait.Round(time.Millisecond))
}

func (e *RetryLaterError) Unwrap() error { return e.Err }

// Await calls try until it returns anything but a *RetryLaterError,
// sleeping each wait it is given: for a caller with nothing else to do
// meanwhile (listing an MSP's children, a test).
func Await[T any](ctx context.Context, try func(context.Context) (T, error)) (T, error) {
	for {
		v, err := try(ctx)
		var later *RetryLaterError
		if !errors.As(err, &later) {
			return v, err
		}
		if err := backoff.Sleep(ctx, later.Wait); err != nil {
			return v, err
		}
	}
}

// try makes one request, if the account's budget allows it.
func (c *Client) try(ctx context.Context, method, path string, params url.Values) (*Response, error) {
	liveness.Mark(ctx)
	if wait := c.budget.TryReserve(); wait > 0 {
		return nil, &RetryLaterError{Wait: wait}
	}
	resp, err := c.do(ctx, method, path, params)
	c.retry.mu.Lock()
	defer c.retry.mu.Unlock()
	if err == nil {
		resp.Attempts = c.retry.failures[path] + 1
		delete(c.retry.failures, path)
		c.retry.bo = backoff.Backoff{}
		return resp, nil
	}
	if stop := giveUp(ctx, err); stop != nil {
		return nil, stop
	}
	var apiErr *APIError
	if c.retry.failures == nil {
		c.retry.failures = map[string]int{}
	}
	c.retry.failures[path]++
	attempt := c.retry.failures[path]
	if max := c.cfg.Retry.MaxAttempts; max > 0 && attempt >= max {
		delete(c.retry.failures, path)
		c.retry.bo = backoff.Backoff{}
		return nil, &TransientError{Attempts: attempt, Err: err}
	}
	if c.retry.bo.Initial == 0 {
		c.retry.bo = backoff.Backoff{Initial: c.cfg.Retry.InitialBackoff, Max: c.cfg.Retry.MaxBackoff}
	}
	wait := c.retry.bo.Next()
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		wait = max(wait, min(apiErr.RetryAfter, maxRetryAfter))
	}
	// Every log of the account waits: Duo's limits are per account, and
	// an outage is too.
	c.budget.Hold(wait)
	c.noteRetry(ctx, path, attempt, wait, err)
	return nil, &RetryLaterError{Wait: wait, Err: err}
}

// giveUp returns what a failed request's call returns at once: the
// context's error, or a permanent API error; nil when it is worth
// retrying.
func giveUp(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) && !apiErr.Temporary() {
		return err
	}
	return nil
}

// noteRetry reports a request to be retried after wait.
func (c *Client) noteRetry(ctx context.Context, path string, attempt int, wait time.Duration, err error) {
	if o := c.cfg.Observer; o != nil {
		o.Retry(path, err)
	}
	logctx.From(ctx, c.logger).Warn("duo request failed, retrying", "path", path, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "error", err)
}

// withAccount adds the MSP child's account_id, when the client has one.
func (c *Client) withAccount(params url.Values) url.Values {
	if params == nil {
		params = url.Values{}
	}
	if c.cfg.AccountID != "" {
		params.Set("account_id", c.cfg.AccountID)
	}
	return params
}

// do makes one request.
func (c *Client) do(ctx context.Context, method, path string, params url.Values) (*Response, error) {
	// The library has no context: bind this call's context with a
	// per-call copy whose transport carries it.
	api := *c.api
	ct := &callTransport{ctx: ctx, base: c.transport, bodies: c.bodies}
	api.SetCustomHTTPClient(&http.Client{Transport: ct, Timeout: c.cfg.Timeout})
	// SignedCall sorts the value slices in place; sign a copy.
	p := make(url.Values, len(params))
	for k, v := range params {
		p[k] = append([]string(nil), v...)
	}
	start := time.Now()
	httpResp, _, err := api.SignedCall(method, path, p, duoapi.UseTimeout)
	// The body was read by the transport, into a pooled buffer: the
	// library's ReadAll would grow a page's megabytes 1.25 times at a
	// time, some ten megabytes of garbage for each.
	var body []byte
	if ct.body != nil {
		body = ct.body.Bytes()
	}
	release := func() {
		if ct.body != nil {
			c.bodies.put(ct.body)
			ct.body = nil
		}
	}
	ok := false // the body goes back to the pool unless a Response keeps it
	defer func() {
		if !ok {
			release()
		}
	}()
	if o := c.cfg.Observer; o != nil {
		status := 0
		var rl *rateLimitedError
		switch {
		case err == nil:
			status = httpResp.StatusCode
		case errors.As(err, &rl):
			status = http.StatusTooManyRequests
		}
		o.Request(path, status, time.Since(start))
	}
	if err != nil {
		var rl *rateLimitedError
		if errors.As(err, &rl) {
			return nil, rl.apiError(path)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, unwrapURLError(err))
	}
	serverDate, _ := http.ParseTime(httpResp.Header.Get("Date"))
	if !serverDate.IsZero() {
		c.recordSkew(ctx, c.cfg.Now().Sub(serverDate))
	}
	if httpResp.StatusCode != http.StatusOK {
		return nil, c.apiError(path, httpResp.StatusCode, body, serverDate)
	}
	stat, response, err := decodeEnvelope(body)
	if err != nil {
		// A cut connection or a proxy's error page: worth retrying.
		return nil, fmt.Errorf("%s %s: undecodable response body (%d bytes): %w", method, path, len(body), err)
	}
	if stat != "OK" {
		return nil, c.apiError(path, httpResp.StatusCode, body, serverDate)
	}
	ok = true
	return &Response{Body: response, ServerDate: serverDate, release: release}, nil
}

// apiError is newAPIError, with the hint for an MSP child account: its
// refusal is about the parent's access to it, not the keys' permissions.
func (c *Client) apiError(path string, status int, body []byte, serverDate time.Time) *APIError {
	e := newAPIError(path, status, body, serverDate, time.Now())
	e.Hint = c.keysAt(e.Hint)
	if c.cfg.AccountID != "" && (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized) {
		e.Hint = fmt.Sprintf("child account %s refused the parent's Accounts API application: the child may have been removed or moved, or the application lacks access to it (or \"Grant read log\"); check the child in the parent's Duo Admin Panel, or exclude it with duo.child_accounts.exclude", c.cfg.AccountID)
	}
	return e
}

// recordSkew keeps the latest skew to Duo's clock and warns when it is
// large (again only when it changed by more than 10 s since).
func (c *Client) recordSkew(ctx context.Context, d time.Duration) {
	c.skew.Store(int64(d))
	c.skewKnown.Store(true)
	if o := c.cfg.Observer; o != nil {
		o.Skew(d)
	}
	abs := d.Abs()
	last := time.Duration(c.skewWarned.Load())
	if abs > SkewWarning && (d-last).Abs() > 10*time.Second {
		c.skewWarned.Store(int64(d))
		logctx.From(ctx, c.logger).Warn("the local clock differs from Duo's; reads are kept behind Duo's clock, but fix the clock (NTP): a few minutes more and signatures fail with 40103",
			"skew", d.Round(time.Second))
	}
}

// Skew returns the local clock minus Duo's as last measured (Date headers
// have whole seconds), and whether any response measured it yet.
func (c *Client) Skew() (time.Duration, bool) {
	return time.Duration(c.skew.Load()), c.skewKnown.Load()
}

// decodeEnvelope validates a response body in one pass and returns its
// stat and its response member (a slice of body, not a copy).
func decodeEnvelope(body []byte) (stat string, response json.RawMessage, err error) {
	if resp, ok := okEnvelope(body); ok {
		return "OK", resp, nil
	}
	return scanEnvelope(body)
}

// scanEnvelope is decodeEnvelope for any shape: one full scan.
func scanEnvelope(body []byte) (stat string, response json.RawMessage, err error) {
	var s jsonscan.Scanner
	s.Reset(body)
	if s.Peek() != '{' {
		return "", nil, errors.New("not a JSON object")
	}
	var st jsonscan.Value
	var resp []byte
	err = s.Members(func(key []byte, esc bool) error {
		switch string(jsonscan.Key(key, esc)) {
		case "stat":
			return s.Into(&st)
		case "response":
			// Skipped, not checked: the page decoders check every
			// byte of it once, as they split it into records.
			var err error
			resp, err = s.Skip()
			return err
		}
		return s.Into(nil)
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return "", nil, err
	}
	if st.Kind == jsonscan.String {
		stat = string(st.Text(nil))
	}
	return stat, resp, nil
}

// okEnvelope recognizes the envelope Duo writes for success,
// {"stat": "OK", "response": X} (or the other order), by its two ends, and
// returns X without scanning it: a page is megabytes, and the page
// decoders check every byte of X as they split it into records (and
// reject anything after a single value, so an X that spans more members
// fails there). Any other shape takes the full scan.
func okEnvelope(body []byte) (json.RawMessage, bool) {
	for _, shape := range [][2][]string{
		{{"{", `"stat"`, ":", `"OK"`, ",", `"response"`, ":"}, {"}"}},
		{{"{", `"response"`, ":"}, {",", `"stat"`, ":", `"OK"`, "}"}},
	} {
		x, ok := cutTokens(body, shape[0], shape[1])
		if ok && len(x) > 0 {
			return x, true
		}
	}
	return nil, false
}

// cutTokens removes the head tokens from the start of b and the tail
// tokens from its end, whitespace allowed around each, and returns what is
// between, trimmed.
func cutTokens(b []byte, head, tail []string) ([]byte, bool) {
	const ws = " \t\r\n"
	for _, tok := range head {
		b = bytes.TrimLeft(b, ws)
		if !bytes.HasPrefix(b, []byte(tok)) {
			return nil, false
		}
		b = b[len(tok):]
	}
	for i := len(tail) - 1; i >= 0; i-- {
		b = bytes.TrimRight(b, ws)
		if !bytes.HasSuffix(b, []byte(tail[i])) {
			return nil, false
		}
		b = b[:len(b)-len(tail[i])]
	}
	return bytes.Trim(b, ws), true // JSON white space only: \v is not
}

// unwrapURLError drops net/url's "Get "https://...": " prefix, which
// repeats the path and host we already name.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// bodyPool keeps a few response buffers for the next calls: a page is
// megabytes, and a sync.Pool would keep more of them than pages are ever
// read at once.
type bodyPool struct {
	mu   sync.Mutex
	idle []*bytes.Buffer
}

// maxIdleBodies is how many buffers a client keeps between calls.
const maxIdleBodies = 2

func (p *bodyPool) get() *bytes.Buffer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		b := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return b
	}
	return new(bytes.Buffer)
}

func (p *bodyPool) put(b *bytes.Buffer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) < maxIdleBodies {
		p.idle = append(p.idle, b)
	}
}

// callTransport binds a context to the library's requests and turns 429
// into an error, so that the library's own blocking 429 loop never runs.
type callTransport struct {
	ctx    context.Context
	base   http.RoundTripper
	bodies *bodyPool
	// body is the last response's body, read here rather than by the
	// library (which then reads an empty one).
	body *bytes.Buffer
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The call's context, with the http.Client's deadline (Timeout),
	// which also bounds reading the body, done here.
	ctx := t.ctx
	if dl, ok := req.Context().Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		buf := t.bodies.get()
		buf.Reset()
		if resp.ContentLength > 0 {
			buf.Grow(int(resp.ContentLength))
		}
		_, err := buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.bodies.put(buf)
			return nil, err
		}
		if t.body != nil { // a retry within one call: keep the last
			t.bodies.put(t.body)
		}
		t.body = buf
		resp.Body = http.NoBody
		return resp, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	rl := &rateLimitedError{body: body}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
			rl.retryAfter = time.Duration(secs) * time.Second
		}
	}
	return nil, rl
}

// rateLimitedError is a 429 caught at the transport.
type rateLimitedError struct {
	body       []byte
	retryAfter time.Duration
}

func (e *rateLimitedError) Error() string { return "429 Too Many Requests" }

func (e *rateLimitedError) apiError(path string) *APIError {
	err := newAPIError(path, http.StatusTooManyRequests, e.body, time.Time{}, time.Time{})
	err.RetryAfter = e.retryAfter
	return err
}

// maxRetryAfter caps the wait a Retry-After header can ask for, so that a
// garbled header cannot park a log for hours.
const maxRetryAfter = 10 * time.Minute

// keysAt rewrites a hint's duo.* keys to where this account's are set.
func (c *Client) keysAt(hint string) string {
	at := c.cfg.KeysAt
	if at == "" || at == "duo" {
		return hint
	}
	if hint == "" {
		return ""
	}
	prefix, _, _ := strings.Cut(at, " ")
	for _, k := range []string{"api_host", "ikey", "skey", "requests_per_second"} {
		hint = strings.ReplaceAll(hint, "duo."+k, prefix+"."+k)
	}
	return at + ": " + hint
}
