package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/connector/internal/backoff"
)

func TestNextDoublesToTheCapWithJitter(t *testing.T) {
	b := backoff.Backoff{Initial: time.Second, Max: 8 * time.Second}
	for i, base := range []time.Duration{1, 2, 4, 8, 8, 8} {
		base *= time.Second
		d := b.Next()
		if d < base*8/10 || d > base*12/10 {
			t.Fatalf("wait %d = %s, want %s ± 20%%", i, d, base)
		}
	}
}

func TestSleepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep = %v", err)
	}
	if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
