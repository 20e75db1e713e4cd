package main

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
	"github.com/duo-connector/duo-connector/connector/pipeline"
	"github.com/duo-connector/duo-connector/connector/runner"
)

// cluster is the daemon in cluster mode: the processes of one connector
// group share the (account, log) units through Kafka's group protocol on
// the state topic. Each generation, a process restores the cursors of the
// state partitions it was assigned and polls exactly the units that hash
// to them; when the generation ends (a process joined, left or died), it
// stops its polls, the page in flight finished within shutdown_timeout or
// abandoned unsaved, before the group moves on.
type cluster struct {
	cfg    config.Config
	logger *slog.Logger
	opts   runner.Options
	store  *kafkastore.Store
	group  *kafka.ConsumerGroup
	// current is the runner of the generation in progress (nil between).
	current atomic.Pointer[runner.Runner]
	// generation is the current generation's id, and owned its partitions.
	generation atomic.Int32
	owned      atomic.Int32
}

// newCluster opens the state topic and joins nothing yet.
func newCluster(ctx context.Context, cfg config.Config, logger *slog.Logger, opts runner.Options) (*cluster, error) {
	transport, dialer, err := cfg.PublishConfig(nil).Connection()
	if err != nil {
		return nil, err
	}
	cp := cfg.Checkpoint
	logger.Info("opening the state topic", "state_topic", cp.Topic, "brokers", cfg.Kafka.Brokers)
	var store *kafkastore.Store
	wait := time.Second
	for attempt := 1; ; attempt++ {
		// Each try bounded: a broker that never answers is said, not
		// waited on in silence.
		openCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		store, err = kafkastore.Open(openCtx, kafkastore.Config{
			Brokers: cfg.Kafka.Brokers, Topic: cp.Topic, Partitions: cp.Partitions, ReplicationFactor: cp.ReplicationFactor,
			Group: cp.Group, Transport: transport, Dialer: dialer, Logger: logger,
		})
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case permanentOpenError(err):
			return nil, err
		default:
			// Kafka down or unreachable is trouble that passes, as for
			// the file store's daemon: wait, say so, stay unready.
			logger.Warn("cannot open the state topic yet; waiting for Kafka (unready meanwhile)", "attempt", attempt, "retry_in", wait, "error", err)
			sleepCtx(ctx, wait)
			wait = min(2*wait, 30*time.Second)
			continue
		}
		break
	}
	st := cp.SessionTimeout.D()
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: cp.Group, Brokers: cfg.Kafka.Brokers, Dialer: dialer, Topics: []string{cp.Topic},
		SessionTimeout: st, HeartbeatInterval: max(st/10, 100*time.Millisecond),
		// Time for a member to stop its polls before the group moves on.
		RebalanceTimeout: max(cfg.ShutdownTimeout.D()+5*time.Second, st),
		JoinGroupBackoff: time.Second, StartOffset: kafka.FirstOffset, Timeout: 10 * time.Second,
		WatchPartitionChanges: true,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("connector group %s: %w", cp.Group, err)
	}
	return &cluster{cfg: cfg, logger: logger, opts: opts, store: store, group: group}, nil
}

// Close leaves the group and closes the store.
func (c *cluster) Close() error {
	return errors.Join(c.group.Close(), c.store.Close())
}

// Alive reports whether the current generation's polls make progress.
func (c *cluster) Alive() bool {
	r := c.current.Load()
	return r == nil || r.Alive()
}

// Run takes part in the group until ctx ends or a fatal error (unreadable
// cursors, Kafka refusing the configuration).
func (c *cluster) Run(ctx context.Context) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	for {
		gen, err := c.group.Next(ctx)
		switch {
		case ctx.Err() != nil:
			if err := context.Cause(ctx); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		case errors.Is(err, kafka.InvalidSessionTimeout):
			return fmt.Errorf("connector group %s: %w: set checkpoint.session_timeout within the brokers' group.min.session.timeout.ms and group.max.session.timeout.ms (6s to 5m unless changed)", c.cfg.Checkpoint.Group, err)
		case errors.Is(err, kafka.GroupAuthorizationFailed), errors.Is(err, kafka.TopicAuthorizationFailed):
			return fmt.Errorf("connector group %s: %w: the brokers' ACLs must let this client join the group and read the state topic %s", c.cfg.Checkpoint.Group, err, c.cfg.Checkpoint.Topic)
		case err != nil:
			// Rebalance in progress, a coordinator moving: retriable.
			c.logger.Warn("joining the connector group; retrying", "group", c.cfg.Checkpoint.Group, "error", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		var parts []int
		for _, a := range gen.Assignments[c.cfg.Checkpoint.Topic] {
			parts = append(parts, a.ID)
		}
		slices.Sort(parts)
		c.generation.Store(gen.ID)
		c.owned.Store(int32(len(parts)))
		c.logger.Info("connector group generation", "generation", gen.ID, "member", gen.MemberID, "partitions", parts)
		if m := c.opts.Metrics; m != nil {
			m.ClusterGeneration(int(gen.ID), parts)
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
			if err := c.generationRun(rctx, parts); err != nil && pipeline.IsFatal(err) {
				stop(err)
			}
		})
		// One generation's work at a time: the next generation's units
		// are not polled until this one's pages are finished or given up.
		<-done
	}
}

// generationRun restores the partitions' cursors and polls their units
// until the generation ends.
func (c *cluster) generationRun(ctx context.Context, parts []int) error {
	for {
		err := c.store.Restore(ctx, parts)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		c.logger.Warn("restoring cursors from the state topic; retrying", "error", err)
		sleepCtx(ctx, time.Second)
	}
	if len(parts) == 0 {
		<-ctx.Done()
		return nil
	}
	owned := map[int]bool{}
	for _, p := range parts {
		owned[p] = true
	}
	n := c.store.Partitions()
	opts := c.opts
	opts.Store = c.store
	opts.Owns = func(account, _ string) bool { return owned[kafkastore.PartitionOf(account, n)] }
	// Trouble that may pass (Duo not answering the child listing) is
	// waited out within the generation: returning would end it, and make
	// the whole group rebalance again and again.
	var r *runner.Runner
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		var err error
		if r, err = runner.New(ctx, c.cfg, c.logger, opts); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if pipeline.IsFatal(err) {
			c.logger.Error("cannot poll this generation's units", "error", err)
			return err
		}
		c.logger.Warn("cannot poll this generation's units yet; retrying", "retry_in", wait, "error", err)
		sleepCtx(ctx, wait)
	}
	c.current.Store(r)
	defer func() {
		c.current.Store(nil)
		r.Close()
	}()
	return r.Run(ctx)
}

// permanentOpenError reports the state topic's errors that waiting does
// not fix: a topic that deletes, or Kafka refusing the request for good
// (authorization, a replication factor it cannot have).
func permanentOpenError(err error) bool {
	var nc *kafkastore.NotCompactedError
	var ke kafka.Error
	return errors.As(err, &nc) || errors.As(err, &ke) && !ke.Temporary()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
