package liveness_test

import (
	"context"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/liveness"
)

func TestMarkThroughContext(t *testing.T) {
	b := liveness.NewBeat()
	time.Sleep(20 * time.Millisecond)
	if b.Since() < 20*time.Millisecond {
		t.Fatalf("Since = %s right after a 20ms sleep", b.Since())
	}
	ctx := liveness.With(context.WithoutCancel(context.Background()), b)
	liveness.Mark(ctx)
	if b.Since() > 10*time.Millisecond {
		t.Fatalf("Since = %s after Mark", b.Since())
	}
	liveness.Mark(context.Background()) // no beat: nothing to do
}

// TestIdleIsNotStuck: a loop waiting for work reports no stall, however
// long it waits; back at work, it is measured again.
func TestIdleIsNotStuck(t *testing.T) {
	b := liveness.NewBeat()
	ctx := liveness.With(context.Background(), b)
	liveness.Idle(ctx, true)
	time.Sleep(20 * time.Millisecond)
	if b.Since() != 0 {
		t.Fatalf("Since = %s while idle", b.Since())
	}
	liveness.Idle(ctx, false)
	time.Sleep(20 * time.Millisecond)
	if b.Since() < 20*time.Millisecond {
		t.Fatalf("Since = %s at work after 20ms", b.Since())
	}
}
