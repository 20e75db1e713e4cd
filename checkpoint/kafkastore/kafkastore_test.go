package kafkastore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/checkpoint/kafkastore"
	"github.com/duo-connector/duo-connector/connector/kafkatest"
)

func open(t *testing.T, addr, topic, group string) *kafkastore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kafkastore.Open(ctx, kafkastore.Config{Brokers: []string{addr}, Topic: topic, Partitions: 4, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoreRoundTrip: the state topic is created compacted; saved cursors
// come back in another process after reading the partitions, the latest
// value winning, tombstones deleting, other groups' cursors apart; a
// process restores only the partitions it owns.
func TestStoreRoundTrip(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	ctx := context.Background()
	s := open(t, b.Addr, "duo-connector-state", "g1")
	if s.Partitions() != 4 {
		t.Fatalf("partitions %d, want 4", s.Partitions())
	}
	client := &kafka.Client{Addr: kafka.TCP(b.Addr)}
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "duo-connector-state", ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil || len(resp.Resources) != 1 || len(resp.Resources[0].ConfigEntries) != 1 || resp.Resources[0].ConfigEntries[0].ConfigValue != "compact" {
		t.Fatalf("state topic config: %+v %v", resp, err)
	}

	auth := checkpoint.Key{Account: "api-a", Log: "auth"}
	admin := checkpoint.Key{Account: "api-a", Log: "admin"}
	other := checkpoint.Key{Account: "api-b", Log: "auth"}
	for i, c := range []string{`{"mintime_ms":1}`, `{"mintime_ms":2}`} {
		if err := s.Save(ctx, auth, []byte(c)); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	s.Save(ctx, admin, []byte(`{"mintime":5}`))
	s.Save(ctx, other, []byte(`{"mintime_ms":9}`))
	s.Delete(ctx, admin)
	open(t, b.Addr, "duo-connector-state", "g2").Save(ctx, auth, []byte(`{"mintime_ms":99}`))

	again := open(t, b.Addr, "duo-connector-state", "g1")
	if _, ok, _ := again.Load(ctx, auth); ok {
		t.Fatal("a cursor is known before its partition is restored")
	}
	p := kafkastore.PartitionOf(auth.Account, 4)
	if err := again.Restore(ctx, []int{p}); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := again.Load(ctx, auth); err != nil || !ok || string(c) != `{"mintime_ms":2}` {
		t.Fatalf("auth after restore: %s %v %v", c, ok, err)
	}
	if kafkastore.PartitionOf(other.Account, 4) != p {
		if _, ok, _ := again.Load(ctx, other); ok {
			t.Fatal("a cursor of a partition not owned was restored")
		}
	}
	if err := again.CheckWritable(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := again.List(ctx, true)
	if err != nil || len(all) != 2 {
		t.Fatalf("List (after a probe): %+v %v", all, err)
	}
	if _, ok, _ := again.Load(ctx, admin); ok {
		t.Fatal("a deleted cursor came back")
	}
}

// TestStoreRefusesTopicThatDeletes: an existing state topic that is not
// compacted is refused, with the fix.
func TestStoreRefusesTopicThatDeletes(t *testing.T) {
	b := kafkatest.NewBroker(t, 1, "plain")
	_, err := kafkastore.Open(context.Background(), kafkastore.Config{Brokers: []string{b.Addr}, Topic: "plain", Group: "g"})
	var nc *kafkastore.NotCompactedError
	if !errors.As(err, &nc) {
		t.Fatalf("err = %v, want NotCompactedError", err)
	}
	// compact,delete deletes the cursors of quiet units by retention too
	// (issue 19, item 10: it was accepted).
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	policy := "compact,delete"
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, map[string]*string{"cleanup.policy": &policy}, "both"); err != nil {
		t.Fatal(err)
	}
	_, err = kafkastore.Open(context.Background(), kafkastore.Config{Brokers: []string{b.Addr}, Topic: "both", Group: "g"})
	if !errors.As(err, &nc) || nc.Policy != "compact,delete" || !strings.Contains(err.Error(), "cleanup.policy=compact)") {
		t.Fatalf("err = %v, want NotCompactedError for compact,delete with the fix", err)
	}
}

// TestStoreCorruptRecord: a cursor whose latest record cannot be read is
// an error on Load, never "no cursor"; a later valid record replaces it.
func TestStoreCorruptRecord(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	ctx := context.Background()
	s := open(t, b.Addr, "state", "g")
	key := checkpoint.Key{Account: "api-a", Log: "auth"}
	// RequireAll: kafka-go's default (no acks) returns before the broker
	// has the record, and Restore could then read the partition's end
	// without it.
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: "state", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int {
			return kafkastore.PartitionOf(key.Account, 4)
		})}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(`["g","","api-a","auth"]`), Value: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	all := []int{0, 1, 2, 3}
	if err := s.Restore(ctx, all); err != nil {
		t.Fatal(err)
	}
	var ce *checkpoint.CorruptError
	if _, _, err := s.Load(ctx, key); !errors.As(err, &ce) {
		t.Fatalf("Load of a garbled record: %v", err)
	}
	if err := s.Save(ctx, key, []byte(`{"mintime_ms":3}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(ctx, all); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := s.Load(ctx, key); err != nil || !ok || string(c) != `{"mintime_ms":3}` {
		t.Fatalf("after a valid save: %s %v %v", c, ok, err)
	}
}

// TestStoreFirstBrokerDown: a broker list whose first entry is down still
// opens the store and restores its cursors.
func TestStoreFirstBrokerDown(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	ctx := context.Background()
	key := checkpoint.Key{Account: "api-a", Log: "auth"}
	open(t, b.Addr, "state", "g").Save(ctx, key, []byte(`{"mintime_ms":7}`))
	s, err := kafkastore.Open(ctx, kafkastore.Config{Brokers: []string{"127.0.0.1:1", b.Addr}, Topic: "state", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Restore(ctx, []int{kafkastore.PartitionOf(key.Account, s.Partitions())}); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := s.Load(ctx, key); err != nil || !ok || string(c) != `{"mintime_ms":7}` {
		t.Fatalf("Load: %s %v %v", c, ok, err)
	}
}

// TestRestoreUnansweredBroker: a broker that never answers the request
// for a partition's offsets holds a restore only until its context ends
// (a generation's end), or for the store's Timeout when the context has
// no end: a restore that waited for good would hold the generation, and
// the process's partitions, with it.
func TestRestoreUnansweredBroker(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	key := checkpoint.Key{Account: "api-a", Log: "auth"}
	part := kafkastore.PartitionOf(key.Account, 4)
	open(t, b.Addr, "state", "g").Save(context.Background(), key, []byte(`{"mintime_ms":7}`))
	s, err := kafkastore.Open(context.Background(), kafkastore.Config{Brokers: []string{b.Addr}, Topic: "state", Group: "g", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Every ListOffsets request is held until the test ends.
	c := b.Cluster()
	asked := make(chan struct{}, 16)
	released := make(chan struct{})
	t.Cleanup(func() { close(released) })
	c.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case asked <- struct{}{}:
		default:
		}
		c.SleepControl(func() { <-released })
		return nil, nil, false
	})
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"no end", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Restore(ctx, []int{part}) }()
			<-asked
			cancel()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Restore reported success without the partition's offsets")
				}
				t.Log(err)
			case <-time.After(time.Minute):
				t.Fatal("Restore still waits for the unanswered broker a minute on")
			}
		})
	}
}

// TestPartitionsAdded: partitions added to the state topic change where
// units belong. Every process reads the count anew at each restore, so
// processes never disagree for longer than a rebalance, and cursors saved
// where the old count put them are still found by their units' new
// owners; a newer cursor saved where the new count puts it wins, and a
// reset deletes both (issue 19, item 8: cursors were lost, and the unit
// started again at initial_lookback).
func TestPartitionsAdded(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	ctx := context.Background()
	s, err := kafkastore.Open(ctx, kafkastore.Config{Brokers: []string{b.Addr}, Topic: "state", Partitions: 3, Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var keys []checkpoint.Key
	for i := range 30 {
		k := checkpoint.Key{Account: fmt.Sprintf("api-%d", i), Log: "auth"}
		keys = append(keys, k)
		if err := s.Save(ctx, k, []byte(fmt.Sprintf(`{"mintime_ms":%d}`, 1e12+i))); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreatePartitions(ctx, 4, "state"); err != nil {
		t.Fatal(err)
	}

	// A process started after the change owns units by 7 partitions; so
	// does one started before, from its next restore.
	later, err := kafkastore.Open(ctx, kafkastore.Config{Brokers: []string{b.Addr}, Topic: "state", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	for _, st := range []*kafkastore.Store{later, s} {
		for p := range 7 {
			if err := st.Restore(ctx, []int{p}); err != nil {
				t.Fatal(err)
			}
			if st.Partitions() != 7 {
				t.Fatalf("partitions %d after the change, want 7", st.Partitions())
			}
			for i, k := range keys {
				if kafkastore.PartitionOf(k.Account, 7) != p {
					continue
				}
				got, ok, err := st.Load(ctx, k)
				if want := fmt.Sprintf(`{"mintime_ms":%d}`, 1e12+i); err != nil || !ok || string(got) != want {
					t.Fatalf("owner of partition %d: %s = %s, %v, %v; want %s", p, k, got, ok, err, want)
				}
			}
		}
	}

	// Newer cursors where the new count places them win; a reset deletes
	// every copy.
	moved := keys[0]
	for _, k := range keys {
		if kafkastore.PartitionOf(k.Account, 7) != kafkastore.PartitionOf(k.Account, 3) {
			moved = k
			break
		}
	}
	if err := later.Save(ctx, moved, []byte(`{"mintime_ms":2000000000000}`)); err != nil {
		t.Fatal(err)
	}
	fresh, err := kafkastore.Open(ctx, kafkastore.Config{Brokers: []string{b.Addr}, Topic: "state", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	all, err := fresh.List(ctx, true)
	if err != nil || len(all) != len(keys) {
		t.Fatalf("List: %d cursors, %v", len(all), err)
	}
	if got, _, _ := fresh.Load(ctx, moved); string(got) != `{"mintime_ms":2000000000000}` {
		t.Fatalf("%s = %s, want the newer cursor", moved, got)
	}
	if err := fresh.Delete(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.List(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := fresh.Load(ctx, moved); ok {
		t.Fatalf("%s = %s after its reset", moved, got)
	}
}

// TestCursorsPlacedByLogAreFound: cursors saved before an account's logs
// were placed together (each log hashed to its own partition) are found
// by the account's owner, so that an upgraded cluster reads nothing again
// (issue 19, item 9).
func TestCursorsPlacedByLogAreFound(t *testing.T) {
	b := kafkatest.NewBroker(t, 1)
	ctx := context.Background()
	s := open(t, b.Addr, "state", "g")
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: "state", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, partitions ...int) int {
			var k []string
			json.Unmarshal(m.Key, &k)
			h := fnv.New32a() // the placement by account and log
			h.Write([]byte(k[2]))
			h.Write([]byte{0})
			h.Write([]byte(k[3]))
			return int(h.Sum32() % uint32(len(partitions)))
		})}
	defer w.Close()
	logs := []string{"auth", "admin", "offline", "telephony", "activity", "trust_monitor"}
	for i, log := range logs {
		key, _ := json.Marshal([]string{"g", "", "api-a", log})
		doc, _ := json.Marshal(checkpoint.Document{Version: checkpoint.Version, Account: "api-a", Log: log, Updated: time.Now(), Cursor: []byte(fmt.Sprintf(`{"mintime":%d}`, 1700000000+i))})
		if err := w.WriteMessages(ctx, kafka.Message{Key: key, Value: doc}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Restore(ctx, []int{kafkastore.PartitionOf("api-a", s.Partitions())}); err != nil {
		t.Fatal(err)
	}
	for i, log := range logs {
		got, ok, err := s.Load(ctx, checkpoint.Key{Account: "api-a", Log: log})
		if want := fmt.Sprintf(`{"mintime":%d}`, 1700000000+i); err != nil || !ok || string(got) != want {
			t.Fatalf("%s: %s, %v, %v; want %s", log, got, ok, err, want)
		}
	}
}
