// Package liveness lets long-running loops show that they make progress:
// each marks its Beat at every step (a request, a retry, a page, a tick),
// through the context its work carries, and a watchdog asks whether every
// beat is recent.
package liveness

import (
	"context"
	"sync/atomic"
	"time"
)

// Beat is the last time a loop showed progress.
type Beat struct {
	last atomic.Int64
	idle atomic.Bool
}

// NewBeat returns a Beat marked now.
func NewBeat() *Beat {
	b := &Beat{}
	b.Mark()
	return b
}

// Mark records progress now.
func (b *Beat) Mark() { b.last.Store(time.Now().UnixNano()) }

// Since is how long ago progress was last marked (zero while idle).
func (b *Beat) Since() time.Duration {
	if b.idle.Load() {
		return 0
	}
	return time.Since(time.Unix(0, b.last.Load()))
}

type key struct{}

// With returns ctx carrying b.
func With(ctx context.Context, b *Beat) context.Context { return context.WithValue(ctx, key{}, b) }

// Idle marks the loop of ctx's beat as waiting for work (idle true) or
// working again: an idle loop is not stuck, however long it waits.
func Idle(ctx context.Context, idle bool) {
	if b, ok := ctx.Value(key{}).(*Beat); ok {
		b.Mark()
		b.idle.Store(idle)
	}
}

// Mark marks the Beat ctx carries, if any.
func Mark(ctx context.Context) {
	if b, ok := ctx.Value(key{}).(*Beat); ok {
		b.Mark()
	}
}
