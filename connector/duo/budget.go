package duo

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/backoff"
)

// Budget paces requests: at most one every 1/rate seconds, with no burst.
// Duo publishes no rate limits for the Admin API and sends no rate-limit
// headers; staying under ~0.5 request/s per account is what keeps a
// backlog catch-up free of 429s.
type Budget struct {
	interval time.Duration

	mu   sync.Mutex
	next time.Time
}

// NewBudget returns a Budget of rate requests per second (+Inf: unlimited).
func NewBudget(rate float64) *Budget {
	if math.IsInf(rate, 1) {
		return &Budget{}
	}
	return &Budget{interval: time.Duration(float64(time.Second) / rate)}
}

// Wait blocks until the caller may send its request, or ctx is done. A slot
// reserved by a caller whose context ends is not given back: the budget
// errs on the side of fewer requests.
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	now := time.Now()
	at := b.next
	if at.Before(now) {
		at = now
	}
	b.next = at.Add(b.interval)
	b.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return backoff.Sleep(ctx, d)
	}
	return ctx.Err()
}

// Hold makes every caller wait at least d from now: Duo asked the whole
// account (not just one request) to slow down.
func (b *Budget) Hold(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if at := time.Now().Add(d); at.After(b.next) {
		b.next = at
	}
}

// TryReserve takes the next request's slot if it is due now and returns
// 0; otherwise it reserves nothing and returns how long until it is.
func (b *Budget) TryReserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if d := b.next.Sub(now); d > 0 {
		return d
	}
	b.next = now.Add(b.interval)
	return 0
}
