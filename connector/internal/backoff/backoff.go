// Package backoff is the retry pacing shared by the connector's clients:
// exponential, capped, jittered waits, and a sleep that a context cancels.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff hands out successive waits: Initial, then doubling up to Max,
// each ±20 % so that retries from many clients do not march in step.
type Backoff struct {
	Initial, Max time.Duration
	next         time.Duration
}

// Next returns the wait before the next retry.
func (b *Backoff) Next() time.Duration {
	if b.next == 0 {
		b.next = b.Initial
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Sleep waits d, or until ctx is done (returning its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
