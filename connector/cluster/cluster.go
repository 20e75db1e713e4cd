// Package cluster is cluster mode's membership: the processes of one
// connector group share the (account, log) units through Kafka's group
// protocol on the state topic. Each generation, a Member restores the
// cursors of the state partitions it was assigned and builds the work for
// exactly the units that hash to them (Config.Build); when the generation
// ends (a process joined, left or died) it stops that work, the page in
// flight finished within the shutdown timeout or abandoned unsaved,
// before the group moves on. What the work is (the runner) is the
// caller's: this package knows only ownership.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/duo-connector/duo-connector/checkpoint/kafkastore"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/fault"
	"github.com/duo-connector/duo-connector/connector/internal/backoff"
)

// Work is what a member runs for the units it owns in one generation.
type Work interface {
	// Run polls the units until ctx ends (the generation's end) or a
	// fatal error.
	Run(ctx context.Context) error
	// Alive reports whether the polls make progress (the watchdog).
	Alive() bool
	Close() error
}

// Assignment is what a generation gave this member: the state store,
// restored for its partitions, and which accounts it owns.
type Assignment struct {
	Store *kafkastore.Store
	// Owns reports whether an account's units are this member's.
	Owns func(account string) bool
}

// Config configures a Member.
type Config struct {
	// State is the state topic's store configuration (brokers, topic,
	// partitions, group, transport).
	State kafkastore.Config
	// SessionTimeout is the group session timeout.
	SessionTimeout time.Duration
	// ShutdownTimeout is how long stopping a generation's work may take:
	// the group waits that long (and 5 s more) for a member to leave it.
	ShutdownTimeout time.Duration
	// Build makes the work of one generation. A fault.Fatal error
	// calls fatal ends Run; others are retried within the generation.
	Build func(ctx context.Context, a Assignment) (Work, error)
	// OnGeneration, when set, is told each generation's id and partitions
	// (metrics).
	OnGeneration func(id int, partitions []int)
	Logger       *slog.Logger
}

// Member is one process of the connector group.
type Member struct {
	cfg    Config
	logger *slog.Logger
	store  *kafkastore.Store
	group  *kafka.ConsumerGroup
	// current is the work of the generation in progress (nil between).
	current atomic.Pointer[workBox]
}

type workBox struct{ w Work }

// Join opens the state topic, waiting for Kafka while it cannot be
// reached (said at each try), and makes the member; Run takes part.
func Join(ctx context.Context, cfg Config) (*Member, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st := cfg.State
	st.Logger = logger
	logger.Info("opening the state topic", "state_topic", st.Topic, "brokers", st.Brokers)
	var store *kafkastore.Store
	wait := time.Second
	for attempt := 1; ; attempt++ {
		// Each try bounded: a broker that never answers is said, not
		// waited on in silence.
		openCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		var err error
		store, err = kafkastore.Open(openCtx, st)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case PermanentOpenError(err):
			return nil, err
		default:
			// Kafka down or unreachable is trouble that passes, as for
			// the file store's daemon: wait, say so, stay unready.
			logger.Warn("cannot open the state topic yet; waiting for Kafka (unready meanwhile)", "attempt", attempt, "retry_in", wait, "error", err)
			backoff.Sleep(ctx, wait)
			wait = min(2*wait, 30*time.Second)
			continue
		}
		break
	}
	s := cfg.SessionTimeout
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: st.Group, Brokers: st.Brokers, Dialer: st.Dialer, Topics: []string{st.Topic},
		SessionTimeout: s, HeartbeatInterval: max(s/10, 100*time.Millisecond),
		// Time for a member to stop its polls before the group moves on.
		RebalanceTimeout: max(cfg.ShutdownTimeout+5*time.Second, s),
		JoinGroupBackoff: time.Second, StartOffset: kafka.FirstOffset, Timeout: 10 * time.Second,
		WatchPartitionChanges: true,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("connector group %s: %w", st.Group, err)
	}
	return &Member{cfg: cfg, logger: logger, store: store, group: group}, nil
}

// Close leaves the group and closes the store.
func (m *Member) Close() error {
	return errors.Join(m.group.Close(), m.store.Close())
}

// Alive reports whether the current generation's work makes progress.
func (m *Member) Alive() bool {
	b := m.current.Load()
	return b == nil || b.w.Alive()
}

// Run takes part in the group until ctx ends or a fatal error (unreadable
// cursors, Kafka refusing the configuration).
func (m *Member) Run(ctx context.Context) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	group, topic := m.cfg.State.Group, m.cfg.State.Topic
	for {
		gen, err := m.group.Next(ctx)
		switch {
		case ctx.Err() != nil:
			if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		case errors.Is(err, kafka.InvalidSessionTimeout):
			return fmt.Errorf("connector group %s: %w: set checkpoint.session_timeout within the brokers' group.min.session.timeout.ms and group.max.session.timeout.ms (6s to 5m unless changed)", group, err)
		case errors.Is(err, kafka.GroupAuthorizationFailed), errors.Is(err, kafka.TopicAuthorizationFailed):
			return fmt.Errorf("connector group %s: %w: the brokers' ACLs must let this client join the group and read the state topic %s", group, err, topic)
		case err != nil:
			// Rebalance in progress, a coordinator moving: retriable.
			m.logger.Warn("joining the connector group; retrying", "group", group, "error", err)
			backoff.Sleep(ctx, time.Second)
			continue
		}
		var parts []int
		for _, a := range gen.Assignments[topic] {
			parts = append(parts, a.ID)
		}
		slices.Sort(parts)
		m.logger.Info("connector group generation", "generation", gen.ID, "member", gen.MemberID, "partitions", parts)
		if m.cfg.OnGeneration != nil {
			m.cfg.OnGeneration(int(gen.ID), parts)
		}
		done := make(chan struct{})
		gen.Start(func(gctx context.Context) {
			defer close(done)
			// kafka-go still runs fn, unwaited for, on a generation that
			// ended before Start: such a generation has no work to do.
			if gctx.Err() != nil {
				return
			}
			// Stop at the generation's end, or the process's.
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(gctx, cancel)()
			if err := m.generation(rctx, parts); err != nil && fault.Of(err) == fault.Fatal {
				stop(err)
			}
		})
		// One generation's work at a time: the next generation's units
		// are not polled until this one's pages are finished or given up.
		<-done
	}
}

// generation restores the partitions' cursors and runs their work until
// the generation ends.
func (m *Member) generation(ctx context.Context, parts []int) error {
	for {
		err := m.store.Restore(ctx, parts)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		m.logger.Warn("restoring cursors from the state topic; retrying", "error", err)
		backoff.Sleep(ctx, time.Second)
	}
	if len(parts) == 0 {
		<-ctx.Done()
		return nil
	}
	owned := map[int]bool{}
	for _, p := range parts {
		owned[p] = true
	}
	n := m.store.Partitions()
	a := Assignment{Store: m.store, Owns: func(account string) bool { return owned[kafkastore.PartitionOf(account, n)] }}
	// Trouble that may pass (Duo not answering the child listing) is
	// waited out within the generation: returning would end it, and make
	// the whole group rebalance again and again.
	var w Work
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		var err error
		if w, err = m.cfg.Build(ctx, a); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if fault.Of(err) == fault.Fatal {
			m.logger.Error("cannot poll this generation's units", "error", err)
			return err
		}
		m.logger.Warn("cannot poll this generation's units yet; retrying", "retry_in", wait, "error", err)
		backoff.Sleep(ctx, wait)
	}
	m.current.Store(&workBox{w})
	defer func() {
		m.current.Store(nil)
		w.Close()
	}()
	return w.Run(ctx)
}

// PermanentOpenError reports the state topic's errors that waiting does
// not fix: a topic that deletes, or Kafka refusing the request for good
// (authorization, a replication factor it cannot have).
func PermanentOpenError(err error) bool {
	var nc *kafkastore.NotCompactedError
	var ke kafka.Error
	return errors.As(err, &nc) || errors.As(err, &ke) && !ke.Temporary()
}

// StateConfig is the state store's configuration from the connector's:
// the checkpoint section, over the kafka section's brokers and connection.
func StateConfig(cfg config.Config) (kafkastore.Config, error) {
	transport, dialer, err := cfg.PublishConfig(nil).Connection()
	if err != nil {
		return kafkastore.Config{}, err
	}
	cp := cfg.Checkpoint
	return kafkastore.Config{
		Brokers: cfg.Kafka.Brokers, Topic: cp.Topic, Partitions: cp.Partitions, ReplicationFactor: cp.ReplicationFactor,
		Group: cp.Group, Transport: transport, Dialer: dialer,
	}, nil
}

// NewConfig is a Member's configuration from the connector's.
func NewConfig(cfg config.Config, logger *slog.Logger, build func(context.Context, Assignment) (Work, error)) (Config, error) {
	st, err := StateConfig(cfg)
	if err != nil {
		return Config{}, err
	}
	return Config{
		State: st, SessionTimeout: cfg.Checkpoint.SessionTimeout.D(), ShutdownTimeout: cfg.ShutdownTimeout.D(),
		Build: build, Logger: logger,
	}, nil
}

// Members returns how many processes the connector group has now.
func Members(ctx context.Context, st kafkastore.Config) (int, error) {
	client := &kafka.Client{Addr: kafka.TCP(st.Brokers...), Transport: st.Transport, Timeout: 30 * time.Second}
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{st.Group}})
	if err != nil {
		return 0, fmt.Errorf("connector group %s: %w", st.Group, err)
	}
	n := 0
	for _, g := range resp.Groups {
		n += len(g.Members)
	}
	return n, nil
}
