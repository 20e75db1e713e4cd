// Package kafkastore keeps the connector's cursors in a compacted Kafka
// topic, for cluster mode: a cursor is a record keyed by (connector group,
// scope, account, log) whose value is the cursor document, so the topic
// keeps the latest of each. A cursor lives on the partition its (account,
// log) hashes to; the process that owns that partition restores it by
// reading the partition to its end, then saves each cursor with a write
// acknowledged by every in-sync replica, after its data page was.
package kafkastore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/duo-connector/duo-connector/checkpoint"
)

// Config configures a Store.
type Config struct {
	Brokers []string
	// Topic is the state topic (created compacted when missing).
	Topic string
	// Partitions and ReplicationFactor are used when the topic is created
	// (ReplicationFactor 0: the brokers' default).
	Partitions        int
	ReplicationFactor int
	// Group names the connector group: cursors of different groups in one
	// topic never mix.
	Group string
	// Transport and Dialer carry the client id, TLS and SASL.
	Transport *kafka.Transport
	Dialer    *kafka.Dialer
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// Logger, when set, is told of a change of the topic's partition count.
	Logger *slog.Logger
}

// Store is a checkpoint.Store in a Kafka topic. Load answers from the
// cursors restored (Restore); Save writes through.
type Store struct {
	cfg    Config
	client *kafka.Client
	w      *kafka.Writer
	// partitions is the state topic's partition count as last read (at
	// Open and at each Restore): cursors are placed by it, and units
	// owned by it.
	partitions atomic.Int32

	mu      sync.Mutex
	cursors map[checkpoint.Key]checkpoint.Entry
	bad     map[checkpoint.Key]error // cursors whose latest record is unreadable
}

var _ checkpoint.Store = (*Store)(nil)

// NotCompactedError reports a state topic that would delete cursors.
type NotCompactedError struct {
	Topic, Policy string
}

func (e *NotCompactedError) Error() string {
	return fmt.Sprintf("state topic %s has cleanup.policy=%s: Kafka would delete cursors as they age, and the connector would start those logs over. "+
		"Make it compacted only (kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact) or name another checkpoint.topic, which the connector creates compacted",
		e.Topic, e.Policy, e.Topic)
}

// Open checks the state topic, creating it compacted when missing, and
// refuses one that is not compacted.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = kafka.DefaultTransport.(*kafka.Transport)
	}
	if cfg.Dialer == nil {
		cfg.Dialer = kafka.DefaultDialer
	}
	s := &Store{
		cfg:     cfg,
		client:  &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: cfg.Timeout, Transport: cfg.Transport},
		cursors: map[checkpoint.Key]checkpoint.Entry{},
		bad:     map[checkpoint.Key]error{},
	}
	n, err := s.ensureTopic(ctx)
	if err != nil {
		return nil, err
	}
	s.partitions.Store(int32(n))
	s.w = &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     kafka.BalancerFunc(s.balance),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		WriteTimeout: cfg.Timeout,
		Transport:    cfg.Transport,
	}
	return s, nil
}

// ensureTopic returns the state topic's partition count, creating it.
func (s *Store) ensureTopic(ctx context.Context) (int, error) {
	topic := s.cfg.Topic
	for attempt := 0; ; attempt++ {
		md, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return 0, fmt.Errorf("state topic %s: %w", topic, err)
		}
		if len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) > 0 {
			if err := s.checkCompacted(ctx); err != nil {
				return 0, err
			}
			return len(md.Topics[0].Partitions), nil
		}
		if attempt > 0 {
			if attempt > 50 {
				return 0, fmt.Errorf("state topic %s: created, but not in the metadata after 5 s", topic)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		rf := s.cfg.ReplicationFactor
		if rf == 0 {
			rf = -1
		}
		resp, err := s.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: topic, NumPartitions: max(s.cfg.Partitions, 1), ReplicationFactor: rf,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
		}}})
		if err == nil {
			err = resp.Errors[topic]
		}
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return 0, fmt.Errorf("create state topic %s (cleanup.policy=compact): %w: create it yourself, or allow this client to", topic, err)
		}
	}
}

func (s *Store) checkCompacted(ctx context.Context) error {
	resp, err := s.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: s.cfg.Topic, ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil {
		return fmt.Errorf("state topic %s: describe configs: %w", s.cfg.Topic, err)
	}
	policy := "delete" // Kafka's default when the topic does not say
	for _, r := range resp.Resources {
		if r.Error != nil {
			return fmt.Errorf("state topic %s: describe configs: %w", s.cfg.Topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				policy = e.ConfigValue
			}
		}
	}
	// compact,delete deletes too: the cursors of quiet or removed units
	// would age out by retention.
	if parts := strings.Split(strings.ReplaceAll(policy, " ", ""), ","); !slices.Contains(parts, "compact") || slices.Contains(parts, "delete") {
		return &NotCompactedError{Topic: s.cfg.Topic, Policy: policy}
	}
	return nil
}

// Partitions returns the state topic's partition count.
func (s *Store) Partitions() int { return int(s.partitions.Load()) }

// PartitionOf is the state topic partition holding the cursors of every
// log of one account (every scope): the work a process owns. An account's
// logs go together, so that one process polls them all, within the one
// request budget and backoff Duo holds the account to. (Before, each log
// hashed apart: Restore still finds cursors placed so, the newest winning.)
func PartitionOf(account string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32() % uint32(max(partitions, 1)))
}

// recordKey is a cursor's record key.
type recordKey struct {
	Group, Scope, Account, Log string
}

func (s *Store) encodeKey(k checkpoint.Key) []byte {
	b, _ := json.Marshal([]string{s.cfg.Group, k.Scope, k.Account, k.Log})
	return b
}

func decodeKey(b []byte) (recordKey, bool) {
	var parts []string
	if json.Unmarshal(b, &parts) != nil || len(parts) != 4 {
		return recordKey{}, false
	}
	return recordKey{parts[0], parts[1], parts[2], parts[3]}, true
}

// partitionHeader, on a message, names the partition it goes to (the
// tombstones of Delete, one to each partition).
const partitionHeader = "duo-connector.partition"

// balance sends a cursor to its (account, log) partition under the count
// the store owns units by (not kafka-go's, which may be newer or older).
func (s *Store) balance(msg kafka.Message, partitions ...int) int {
	if len(partitions) == 0 {
		return 0
	}
	for _, h := range msg.Headers {
		if p, err := strconv.Atoi(string(h.Value)); h.Key == partitionHeader && err == nil && p >= 0 {
			return partitions[p%len(partitions)]
		}
	}
	k, ok := decodeKey(msg.Key)
	if !ok {
		return partitions[0]
	}
	return partitions[PartitionOf(k.Account, s.Partitions())%len(partitions)]
}

// Restore reads the state topic to its end and replaces the cursors of
// the units placed on partitions with what the topic holds: a process that
// gains partitions resumes where their last owner saved.
//
// It reads every partition, not only those: after partitions were added to
// the topic, a unit's cursor may still stand where the old count placed
// it (and newer ones where the new count does). Of a unit's cursors on
// several partitions, the one saved last wins. The partition count is read
// anew first, and a change is said. Nil partitions restores every unit.
func (s *Store) Restore(ctx context.Context, partitions []int) error {
	n, err := s.partitionCount(ctx)
	if err != nil {
		return fmt.Errorf("restore cursors from %s: %w", s.cfg.Topic, err)
	}
	if was := s.Partitions(); n != was {
		s.partitions.Store(int32(n))
		if s.cfg.Logger != nil {
			s.cfg.Logger.Warn("the state topic's partition count changed: units are owned and cursors saved by the new count; cursors where the old count put them are still read",
				"state_topic", s.cfg.Topic, "was", was, "now", n)
		}
	}
	r := restore{found: map[checkpoint.Key]placed{}, bad: map[checkpoint.Key]error{}}
	for p := range n {
		if err := s.readPartition(ctx, p, &r); err != nil {
			return fmt.Errorf("restore cursors from %s partition %d: %w", s.cfg.Topic, p, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mine := func(k checkpoint.Key) bool {
		return partitions == nil || slices.Contains(partitions, PartitionOf(k.Account, n))
	}
	maps.DeleteFunc(s.cursors, func(k checkpoint.Key, _ checkpoint.Entry) bool { return mine(k) })
	maps.DeleteFunc(s.bad, func(k checkpoint.Key, _ error) bool { return mine(k) })
	for k, e := range r.found {
		if mine(k) {
			s.cursors[k] = e.Entry
		}
	}
	for k, err := range r.bad {
		if mine(k) {
			s.bad[k] = err
		}
	}
	return nil
}

// partitionCount asks a broker for the state topic's partition count, on
// a connection of its own: a transport's metadata is a cached copy.
func (s *Store) partitionCount(ctx context.Context) (int, error) {
	var err error
	for _, b := range s.cfg.Brokers {
		var conn *kafka.Conn
		if conn, err = s.cfg.Dialer.DialContext(ctx, "tcp", b); err != nil {
			continue
		}
		conn.SetDeadline(time.Now().Add(s.cfg.Timeout))
		var parts []kafka.Partition
		parts, err = conn.ReadPartitions(s.cfg.Topic)
		conn.Close()
		if err == nil && len(parts) == 0 {
			err = errors.New("the topic has no partitions")
		}
		if err == nil {
			return len(parts), nil
		}
	}
	return 0, err
}

// restore is what reading partitions found: the latest cursor of each key,
// or why its latest record cannot be read.
type restore struct {
	found map[checkpoint.Key]placed
	bad   map[checkpoint.Key]error
}

// placed is a cursor and the partition it was read from.
type placed struct {
	checkpoint.Entry
	partition int
}

// readPartition reads one partition from its first offset to the end it
// had when reading began.
func (s *Store) readPartition(ctx context.Context, p int, r *restore) error {
	// Any broker finds the partition's leader: try each until one answers.
	var conn *kafka.Conn
	var err error
	for _, b := range s.cfg.Brokers {
		if conn, err = s.cfg.Dialer.DialLeader(ctx, "tcp", b, s.cfg.Topic, p); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	// A Conn knows no context: the context's end closes it, and every
	// request has a deadline, so that no broker holds a restore (and the
	// generation waiting for it) for good.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	deadline := func() time.Time {
		d := time.Now().Add(s.cfg.Timeout)
		if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
			return dl
		}
		return d
	}
	conn.SetDeadline(deadline())
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return cmp.Or(ctx.Err(), err)
	}
	if first >= last {
		return nil
	}
	if _, err := conn.Seek(first, kafka.SeekAbsolute); err != nil {
		return cmp.Or(ctx.Err(), err)
	}
	for offset := first; offset < last; {
		conn.SetDeadline(deadline())
		batch := conn.ReadBatch(1, 16<<20)
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			offset = m.Offset + 1
			s.apply(m, r)
			if offset >= last {
				break
			}
		}
		if err := batch.Close(); err != nil && offset < last {
			return cmp.Or(ctx.Err(), err)
		}
	}
	return nil
}

// apply folds one record into the cursors: the latest value wins, a
// tombstone deletes; other groups' records are skipped.
func (s *Store) apply(m kafka.Message, r *restore) {
	rk, ok := decodeKey(m.Key)
	if !ok || rk.Group != s.cfg.Group {
		return
	}
	key := checkpoint.Key{Account: rk.Account, Log: rk.Log, Scope: rk.Scope}
	if m.Value == nil { // Delete writes one to every partition
		delete(r.found, key)
		delete(r.bad, key)
		return
	}
	var doc checkpoint.Document
	err := json.Unmarshal(m.Value, &doc)
	if err == nil && (doc.Version != checkpoint.Version || len(doc.Cursor) == 0) {
		err = fmt.Errorf("version %d and %d bytes of cursor, want version %d and a cursor", doc.Version, len(doc.Cursor), checkpoint.Version)
	}
	if prev, ok := r.found[key]; ok && prev.partition != m.Partition && err == nil && !doc.Updated.After(prev.Updated) {
		return // an older cursor where another partition count put it
	}
	delete(r.found, key)
	delete(r.bad, key)
	if err != nil {
		// Kept, so that Load reports it rather than starting over.
		r.bad[key] = &checkpoint.CorruptError{Key: key, Path: s.where(m.Partition, m.Offset), Reason: err}
		return
	}
	r.found[key] = placed{checkpoint.Entry{Key: key, Cursor: doc.Cursor, Updated: doc.Updated, Path: s.where(m.Partition, m.Offset)}, m.Partition}
}

func (s *Store) where(partition int, offset int64) string {
	return fmt.Sprintf("%s/%d@%d", s.cfg.Topic, partition, offset)
}

// Load returns the cursor restored for key.
func (s *Store) Load(_ context.Context, key checkpoint.Key) (json.RawMessage, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.bad[key]; err != nil {
		return nil, false, err
	}
	e, ok := s.cursors[key]
	return e.Cursor, ok, nil
}

// Save writes the cursor and returns once every in-sync replica has it.
func (s *Store) Save(ctx context.Context, key checkpoint.Key, cursor json.RawMessage) error {
	now := time.Now().UTC()
	value, err := json.Marshal(checkpoint.Document{Version: checkpoint.Version, Account: key.Account, Log: key.Log, Scope: key.Scope, Updated: now, Cursor: cursor})
	if err != nil {
		return err
	}
	if err := s.w.WriteMessages(ctx, kafka.Message{Key: s.encodeKey(key), Value: value}); err != nil {
		return fmt.Errorf("save cursor %s to %s: %w", key, s.cfg.Topic, err)
	}
	s.mu.Lock()
	s.cursors[key] = checkpoint.Entry{Key: key, Cursor: cursor, Updated: now, Path: s.cfg.Topic}
	delete(s.bad, key)
	s.mu.Unlock()
	return nil
}

// Delete writes the cursor's tombstone, to every partition: a cursor may
// stand where an older partition count put it.
func (s *Store) Delete(ctx context.Context, key checkpoint.Key) error {
	tombs := make([]kafka.Message, s.Partitions())
	for p := range tombs {
		tombs[p] = kafka.Message{Key: s.encodeKey(key), Headers: []kafka.Header{{Key: partitionHeader, Value: strconv.AppendInt(nil, int64(p), 10)}}}
	}
	if err := s.w.WriteMessages(ctx, tombs...); err != nil {
		return fmt.Errorf("delete cursor %s from %s: %w", key, s.cfg.Topic, err)
	}
	s.mu.Lock()
	delete(s.cursors, key)
	delete(s.bad, key)
	s.mu.Unlock()
	return nil
}

// List restores every partition and returns every cursor of the group
// (the daemon's and, with backfills, the backfills'), and the errors of
// those that cannot be read.
func (s *Store) List(ctx context.Context, backfills bool) ([]checkpoint.Entry, error) {
	if err := s.Restore(ctx, nil); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	listed := func(k checkpoint.Key) bool { return !isDescription(k) && (backfills || k.Scope == "") }
	var out []checkpoint.Entry
	for k, e := range s.cursors {
		if listed(k) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b checkpoint.Entry) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	var errs []error
	for k, err := range s.bad {
		if listed(k) {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// CheckWritable proves the state topic writable: it writes a tombstone for a key
// no cursor has, which leaves every cursor as it is and compacts away.
func (s *Store) CheckWritable(ctx context.Context) error {
	key, _ := json.Marshal([]string{s.cfg.Group, "", "", "probe"})
	if err := s.w.WriteMessages(ctx, kafka.Message{Key: key, Value: nil}); err != nil {
		return fmt.Errorf("state topic %s is not writable: %w", s.cfg.Topic, err)
	}
	return nil
}

// Close closes the writer.
func (s *Store) Close() error { return s.w.Close() }
