package kafkastore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// TestGroupContract holds the pinned kfake and kafka-go to what cluster
// mode relies on: three consumer-group members on the state topic get
// disjoint partitions covering all of it, and when one leaves, the other
// two cover it all in the next generation (Next may first return
// retriable errors, such as [27] Rebalance In Progress: keep calling it).
func TestGroupContract(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	open(t, b.Addr, "state", "g") // creates the 4-partition state topic
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type member struct {
		cg    *kafka.ConsumerGroup
		parts chan []int
	}
	join := func() *member {
		cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID: "g", Brokers: []string{b.Addr}, Topics: []string{"state"},
			SessionTimeout: 6 * time.Second, HeartbeatInterval: 300 * time.Millisecond, RebalanceTimeout: 6 * time.Second,
			JoinGroupBackoff: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := &member{cg: cg, parts: make(chan []int, 100)}
		go func() {
			for {
				gen, err := cg.Next(ctx)
				if err != nil {
					if ctx.Err() != nil || err == kafka.ErrGroupClosed {
						return
					}
					continue // retriable
				}
				var ps []int
				for _, a := range gen.Assignments["state"] {
					ps = append(ps, a.ID)
				}
				slices.Sort(ps)
				m.parts <- ps
				gen.Start(func(gctx context.Context) { <-gctx.Done() })
			}
		}()
		return m
	}
	members := []*member{join(), join(), join()}
	latest := make([][]int, len(members))
	covered := func(ms []int) bool {
		for {
			// Drain what each member has been given so far.
			for _, i := range ms {
				for drained := false; !drained; {
					select {
					case p := <-members[i].parts:
						latest[i] = p
					default:
						drained = true
					}
				}
			}
			// Every member has some, and together they have each once.
			var all []int
			each := true
			for _, i := range ms {
				all = append(all, latest[i]...)
				each = each && len(latest[i]) > 0
			}
			slices.Sort(all)
			if each && slices.Equal(all, []int{0, 1, 2, 3}) {
				return true
			}
			if ctx.Err() != nil {
				return false
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !covered([]int{0, 1, 2}) {
		t.Fatalf("three members: partitions %v", latest)
	}
	members[2].cg.Close()
	latest[0], latest[1] = nil, nil
	if !covered([]int{0, 1}) {
		t.Fatalf("after one left: partitions %v", latest)
	}
	members[0].cg.Close()
	members[1].cg.Close()
}
