package kafkastore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

// joinGroup makes a member of group on the topic state, taking part in
// every generation until ctx ends or it is closed; each generation's
// partitions are sent to parts when it is not nil.
func joinGroup(ctx context.Context, t *testing.T, addr, group string, parts chan<- []int) *kafka.ConsumerGroup {
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: []string{addr}, Topics: []string{"state"},
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 300 * time.Millisecond, RebalanceTimeout: 6 * time.Second,
		JoinGroupBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			gen, err := cg.Next(ctx)
			if err != nil {
				if ctx.Err() != nil || err == kafka.ErrGroupClosed {
					return
				}
				continue // retriable
			}
			if parts != nil {
				var ps []int
				for _, a := range gen.Assignments["state"] {
					ps = append(ps, a.ID)
				}
				slices.Sort(ps)
				parts <- ps
			}
			gen.Start(func(gctx context.Context) { <-gctx.Done() })
		}
	}()
	return cg
}

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
		m := &member{parts: make(chan []int, 100)}
		m.cg = joinGroup(ctx, t, b.Addr, "g", m.parts)
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

// TestKfakeKeepsMemberKilledMidJoin pins down a flaw of the pinned kfake
// that the cluster kill loop (cmd/duo-connector) works around: a member
// whose connection dies while its JoinGroup waits is kept in the group for
// good, holding partitions, where Kafka expires it after its session
// timeout. (kfake's reply to the dead join fails, so no session timer is
// set, and the leader's SyncGroup clears the pending-sync deadline that
// would have removed it.) It does not happen every time: in some runs
// kfake drops the dead member after all, by a path not tracked down, so
// the case is tried up to three times, each in a group of its own, and the
// test runs in make soak, not make test. When it fails, kfake has likely
// been fixed: drop the work-around, clusterRun.expireDeadMembers.
func TestKfakeKeepsMemberKilledMidJoin(t *testing.T) {
	if os.Getenv("SOAK_KILLS") == "" {
		t.Skip("runs in make soak (SOAK_KILLS): kfake keeps the dead member in some runs only")
	}
	b := kafkatest.NewBroker(t, 1)
	open(t, b.Addr, "state", "g")
	var outcomes []string
	for attempt := range 3 {
		kept, outcome := keepsMemberKilledMidJoin(t, b.Addr, fmt.Sprintf("g%d", attempt))
		if kept {
			return
		}
		t.Logf("attempt %d: %s", attempt+1, outcome)
		outcomes = append(outcomes, outcome)
	}
	t.Fatalf("kfake now expires a member killed mid-join (remove clusterRun.expireDeadMembers): %v", outcomes)
}

// keepsMemberKilledMidJoin has a third member join a group of two live
// ones and die while its join waits, and reports whether kfake still has
// it, with partitions, well past its session timeout.
func keepsMemberKilledMidJoin(t *testing.T, addr, groupID string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 {
		defer joinGroup(ctx, t, addr, groupID, nil).Close()
	}
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	group := func() kafka.DescribeGroupsResponseGroup {
		resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{groupID}})
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("describe group: %v", err)
		}
		return resp.Groups[0]
	}
	waitGroup := func(what string, ok func(kafka.DescribeGroupsResponseGroup) bool) {
		for g := group(); !ok(g); g = group() {
			if ctx.Err() != nil {
				t.Fatalf("%s: group state %s, %d members", what, g.GroupState, len(g.Members))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitGroup("two members", func(g kafka.DescribeGroupsResponseGroup) bool {
		return g.GroupState == "Stable" && len(g.Members) == 2
	})

	// The third member's process dies while its join waits for the
	// others: its connection closes, no LeaveGroup is sent.
	third, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = groupID, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 6000, 6000
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"state"}
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	resp, err := join.RequestWith(ctx, third)
	if err != nil || resp.MemberID == "" {
		t.Fatalf("first join: %v, member id %q", err, resp.MemberID)
	}
	third.Close()
	// The join that waits, sent on a connection of its own that is closed
	// as soon as it is written: kfake handles the request, and can never
	// answer it.
	join.MemberID = resp.MemberID
	sendAndHangUp(t, addr, join)
	waitGroup("the third member's join", func(g kafka.DescribeGroupsResponseGroup) bool {
		return g.GroupState == "PreparingRebalance"
	})

	// Kafka would be back to two members once the session timeout (6 s)
	// passed; kfake keeps three, the dead one with partitions.
	waitGroup("rebalanced", func(g kafka.DescribeGroupsResponseGroup) bool { return g.GroupState == "Stable" })
	time.Sleep(10 * time.Second)
	g := group()
	for _, m := range g.Members {
		if m.MemberID == join.MemberID && len(m.MemberAssignments.Topics) > 0 && g.GroupState == "Stable" {
			return true, ""
		}
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, fmt.Sprintf("%s=%v", m.MemberID, m.MemberAssignments.Topics))
	}
	return false, fmt.Sprintf("group %s: state %s, %d members %v (dead %s)", groupID, g.GroupState, len(g.Members), ids, join.MemberID)
}

// sendAndHangUp writes req (JoinGroup v5: a header without tagged fields)
// to a new connection to addr, and closes it.
func sendAndHangUp(t *testing.T, addr string, req *kmsg.JoinGroupRequest) {
	req.Version = 5
	msg := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	msg = binary.BigEndian.AppendUint16(msg, uint16(req.Version))
	msg = binary.BigEndian.AppendUint32(msg, 1) // correlation id
	msg = binary.BigEndian.AppendUint16(msg, 0) // client id ""
	msg = req.AppendTo(msg)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(binary.BigEndian.AppendUint32(nil, uint32(len(msg)))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
}
