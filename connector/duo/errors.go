package duo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/duo-connector/duo-connector/connector/fault"
)

// APIError is an error Duo answered with: its HTTP status and the body's
// code, message and message_detail, with a hint saying what to fix.
type APIError struct {
	Path       string
	StatusCode int
	Code       int
	Message    string
	Detail     string
	Hint       string
	// RetryAfter is a 429's Retry-After, when Duo sent one: the client
	// waits at least this long before trying again.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	method := http.MethodGet
	if e.Path == PathAccountList {
		method = http.MethodPost
	}
	fmt.Fprintf(&b, "duo %s %s: HTTP %d", method, e.Path, e.StatusCode)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, ": %s", e.Hint)
	}
	return b.String()
}

// Temporary reports whether retrying the same request may succeed: rate
// limits and server errors. 4xx answers are about the request or the
// credentials and will not change by themselves.
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Fault is Transient for rate limits and server errors, else Permanent:
// the account's keys, permissions or request must change.
func (e *APIError) Fault() fault.Kind {
	if e.Temporary() {
		return fault.Transient
	}
	return fault.Permanent
}

// Unavailable reports a log the account does not have: Duo refuses the
// endpoint of a log that depends on the edition or on a preview (the
// activity log, Trust Monitor) with a 403 or a 404. The connector skips
// such a log for the account, checks it again now and then, and does not
// count it as a failure.
func Unavailable(err error) (*APIError, bool) {
	var e *APIError
	if !errors.As(err, &e) {
		return nil, false
	}
	optional := e.Path == PathActivity || e.Path == PathTrustMonitor
	return e, optional && (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusNotFound)
}

// HorizonExceeded reports a 400 for a mintime older than Duo keeps logs.
func (e *APIError) HorizonExceeded() bool {
	return e.StatusCode == http.StatusBadRequest && strings.Contains(e.Detail, "180 days")
}

// TransientError is a failure that outlasted the retries: the request may
// well succeed later (Duo rate limiting, an outage, the network).
type TransientError struct {
	Attempts int
	Err      error
}

func (e *TransientError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts)", e.Err, e.Attempts)
}

func (e *TransientError) Unwrap() error { return e.Err }

// newAPIError decodes Duo's error body and attaches the hint for its code.
// localNow and serverDate (when known) let a signature error show skew.
func newAPIError(path string, status int, body []byte, serverDate, localNow time.Time) *APIError {
	e := &APIError{Path: path, StatusCode: status}
	var fail struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
		Detail  string          `json:"message_detail"`
	}
	if json.Unmarshal(body, &fail) == nil {
		fmt.Sscan(string(fail.Code), &e.Code)
		if e.Code == 0 { // a code sent as a string
			var s string
			if json.Unmarshal(fail.Code, &s) == nil {
				fmt.Sscan(s, &e.Code)
			}
		}
		e.Message, e.Detail = fail.Message, fail.Detail
	} else if len(body) > 0 {
		e.Message = "non-JSON error body: " + truncate(string(body), 200)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	e.Hint = hint(e, serverDate, localNow)
	return e
}

func hint(e *APIError, serverDate, localNow time.Time) string {
	switch {
	case e.Code == 40101 || e.Code == 40102:
		return "check duo.ikey: it must be the integration key of an Admin API application in this Duo account"
	case e.Code == 40103:
		h := "check duo.skey: it must be the secret key of the Admin API application whose integration key is duo.ikey; a wrong system clock also invalidates signatures"
		if !serverDate.IsZero() && !localNow.IsZero() {
			skew := localNow.Sub(serverDate).Round(time.Second)
			h += fmt.Sprintf(" (local time %s, Duo's Date %s, skew %s)",
				localNow.UTC().Format(time.RFC1123), serverDate.UTC().Format(time.RFC1123), skew)
		}
		return h
	case (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusNotFound) && e.Path == PathTrustMonitor:
		return `this account may not have Trust Monitor (Duo Premier and Advantage editions), or the Admin API application lacks "Grant read log": check the edition, or remove trust_monitor from logs`
	case (e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusNotFound) && e.Path == PathActivity:
		return `this account may not have the activity log (in preview for some accounts), or the Admin API application lacks "Grant read log": ask Duo support, or remove activity from logs`
	case e.Code == 40104 || e.Code == 40105:
		return "the request's Date header was rejected: check the system clock and time zone"
	case e.Code == 40301 || e.StatusCode == http.StatusForbidden:
		return `the Admin API application lacks the "Grant read log" permission: enable it in the Duo Admin Panel under Applications → (this Admin API application) → Permissions`
	case e.HorizonExceeded():
		return "mintime is older than the 180 days Duo keeps; the cursor is too old"
	case e.StatusCode == http.StatusNotFound:
		return "this endpoint does not exist for this account or host: check duo.api_host and the log types enabled"
	case e.StatusCode == http.StatusTooManyRequests:
		return "Duo is rate limiting this account: lower duo.requests_per_second or poll less often"
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
