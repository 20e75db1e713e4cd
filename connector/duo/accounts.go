package duo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// PathAccountList is the Accounts API's listing of an MSP's child accounts.
const PathAccountList = "/accounts/v1/account/list"

// ChildAccount is one child account of an MSP, as the Accounts API lists it.
type ChildAccount struct {
	AccountID   string `json:"account_id"`
	Name        string `json:"name"`
	APIHostname string `json:"api_hostname"`
}

// ChildAccounts lists the parent account's children. The client must hold
// the parent's Accounts API application keys; each child's Admin API is
// then read at its own api_hostname with the same keys and its account_id
// (see ForAccount).
func (c *Client) ChildAccounts(ctx context.Context) ([]ChildAccount, error) {
	resp, err := Await(ctx, func(ctx context.Context) (*Response, error) {
		return c.try(ctx, http.MethodPost, PathAccountList, url.Values{})
	})
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusUnauthorized || apiErr.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("list child accounts: %w (duo.ikey/duo.skey must be the parent account's Accounts API application, not an Admin API one)", err)
		}
		return nil, fmt.Errorf("list child accounts: %w", err)
	}
	defer resp.Release()
	var children []ChildAccount
	if err := json.Unmarshal(resp.Body, &children); err != nil {
		return nil, fmt.Errorf("list child accounts: unexpected response: %w", err)
	}
	for i, ch := range children {
		if ch.AccountID == "" || ch.APIHostname == "" {
			return nil, fmt.Errorf("list child accounts: item %d has no account_id or api_hostname", i)
		}
	}
	return children, nil
}
