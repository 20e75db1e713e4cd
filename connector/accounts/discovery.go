package accounts

import (
	"context"
	"time"

	"github.com/duo-connector/duo-connector/connector/duo"
)

// Discovery finds an MSP parent's child accounts: listed by the Accounts
// API, filtered by include/exclude, and (with Names) by the names a
// command line gave.
type Discovery struct {
	Parent Account
	Filter Filter
	// Names, when set, keep only the children one of them names.
	Names []string
	// Refresh is how often Watch lists the children again.
	Refresh time.Duration
	// List lists the parent's children (duo.Client.ChildAccounts).
	List func(context.Context) ([]duo.ChildAccount, error)
}

// Children lists the children now.
func (d *Discovery) Children(ctx context.Context) ([]Account, error) {
	list, err := d.List(ctx)
	if err != nil {
		return nil, err
	}
	children := Children(list, d.Parent, d.Filter)
	if len(d.Names) > 0 {
		// A name no longer listed only stops its own account.
		children, _ = Matching(children, d.Names)
	}
	return children, nil
}

// Watch lists the children every Refresh until ctx ends, and gives each
// listing to listed; a listing that fails is given to failed, and the
// accounts known stay as they are.
func (d *Discovery) Watch(ctx context.Context, listed func([]Account), failed func(error)) {
	t := time.NewTicker(d.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		children, err := d.Children(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failed(err)
		default:
			listed(children)
		}
	}
}
