package cluster_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint/kafkastore"
	"github.com/duo-connector/duo-connector/connector/cluster"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// owner records what one member's current generation owns: the accounts
// of its Assignment, for as long as its work runs.
type owner struct {
	mu    sync.Mutex
	owned map[string]bool
	gens  int
}

func (o *owner) get() map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.owned)
}

// work stands for the runner: it runs until its generation ends.
type work struct{ o *owner }

func (w work) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (w work) Alive() bool                   { return true }
func (w work) Close() error {
	w.o.mu.Lock()
	w.o.owned = nil
	w.o.mu.Unlock()
	return nil
}

// TestMembersShareAndTakeOver: members of one group, on a real broker's
// group protocol, split the accounts between them with none owned twice
// and none unowned; when one leaves, the other owns them all, its
// generation's work rebuilt.
func TestMembersShareAndTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("group rebalances take seconds")
	}
	b := kafkatest.NewBroker(t, 1)
	var accounts []string
	for i := range 24 {
		accounts = append(accounts, fmt.Sprintf("DA%03d", i))
	}
	join := func(ctx context.Context) (*cluster.Member, *owner) {
		o := &owner{}
		m, err := cluster.Join(ctx, cluster.Config{
			State:          kafkastore.Config{Brokers: []string{b.Addr}, Topic: "duo-connector-state", Partitions: 6, Group: "g"},
			SessionTimeout: 6 * time.Second, ShutdownTimeout: time.Second,
			Build: func(_ context.Context, a cluster.Assignment) (cluster.Work, error) {
				o.mu.Lock()
				defer o.mu.Unlock()
				o.owned = map[string]bool{}
				for _, acct := range accounts {
					if a.Owns(acct) {
						o.owned[acct] = true
					}
				}
				o.gens++
				return work{o}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return m, o
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(m *cluster.Member) (stop func()) {
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(rctx) }()
		return func() {
			rcancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			m.Close()
		}
	}
	m1, o1 := join(ctx)
	m2, o2 := join(ctx)
	stop1, stop2 := run(m1), run(m2)
	defer stop2()
	// Each account owned exactly once, by both members together.
	shared := func() bool {
		a, b := o1.get(), o2.get()
		for _, acct := range accounts {
			if a[acct] == b[acct] {
				return false
			}
		}
		return len(a) > 0 && len(b) > 0
	}
	waitFor(t, ctx, shared, func() string {
		return fmt.Sprintf("member 1 owns %v, member 2 owns %v", keys(o1.get()), keys(o2.get()))
	})
	stop1()
	waitFor(t, ctx, func() bool { return len(o2.get()) == len(accounts) },
		func() string {
			return fmt.Sprintf("after member 1 left, member 2 owns %d of %d accounts", len(o2.get()), len(accounts))
		})
	o2.mu.Lock()
	defer o2.mu.Unlock()
	if o2.gens < 2 {
		t.Errorf("member 2 built %d generations' work, want a new one after member 1 left", o2.gens)
	}
}

func keys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

func waitFor(t *testing.T, ctx context.Context, cond func() bool, state func() string) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s", state())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
