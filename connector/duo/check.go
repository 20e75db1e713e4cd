package duo

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/netcheck"
)

// Check makes the cheapest request that proves the host, the network path,
// the keys and the "Grant read log" permission: one auth log record from a
// one-minute window, tried once. It returns nil, an *APIError (Duo's code
// and the fix) or a *netcheck.UnreachableError.
func (c *Client) Check(ctx context.Context) error {
	end := c.cfg.Now().Add(-5 * time.Minute)
	return c.CheckPath(ctx, PathAuthV2, url.Values{
		"mintime": {strconv.FormatInt(end.Add(-time.Minute).UnixMilli(), 10)},
		"maxtime": {strconv.FormatInt(end.UnixMilli(), 10)},
		"limit":   {"1"},
	})
}

// CheckPath is Check for any endpoint and parameters: one request, tried
// once, its failure explained as Check's is.
func (c *Client) CheckPath(ctx context.Context, path string, params url.Values) error {
	if err := c.budget.Wait(ctx); err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodGet, path, c.withAccount(params))
	resp.Release()
	var apiErr *APIError
	if err == nil || errors.As(err, &apiErr) || ctx.Err() != nil {
		return err
	}
	ue := &netcheck.UnreachableError{Err: err, Permanent: netcheck.Permanent(err)}
	switch netcheck.Classify(err) {
	case netcheck.NotFound:
		ue.Hint = "duo.api_host does not resolve: check its spelling (api-xxxxxxxx.duosecurity.com) and DNS"
	case netcheck.Refused:
		ue.Hint = "nothing answers at duo.api_host (or duo.proxy): check the host, port and proxy"
	case netcheck.Untrusted:
		ue.Hint = "Duo's certificate was not trusted; behind a TLS-intercepting proxy set duo.ca_file to its CA bundle"
	case netcheck.NotTLS:
		ue.Hint = "duo.api_host did not answer TLS: check the host and port"
	default:
		ue.Hint = "check duo.api_host, DNS, the network path to Duo, and duo.proxy / HTTPS_PROXY"
	}
	ue.Hint = c.keysAt(ue.Hint)
	return ue
}
