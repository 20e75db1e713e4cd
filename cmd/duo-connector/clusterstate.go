package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/checkpoint/kafkastore"
	"github.com/duo-connector/duo-connector/connector/cluster"
	"github.com/duo-connector/duo-connector/connector/config"
)

// cursorStore is what the checkpoint commands need of a store: the state
// directory's, or cluster mode's state topic (which holds no backfills).
type cursorStore interface {
	List(backfills bool) ([]checkpoint.Entry, error)
	Backfills() ([]checkpoint.Backfill, error)
	Delete(ctx context.Context, key checkpoint.Key) error
	Path(key checkpoint.Key) string
	BackfillExists(name string) bool
	LoadBackfill(name string) (checkpoint.Backfill, bool, error)
	SaveBackfill(b checkpoint.Backfill) error
	DeleteBackfill(name string) error
	Close() error
}

var _ cursorStore = (*checkpoint.FileStore)(nil)

// clusterState is the state topic as a cursorStore.
type clusterState struct {
	*kafkastore.Store
	topic string
}

var errBackfillsInDir = errors.New("backfills keep their cursors in the state directory, not the state topic")

func (c clusterState) List(bool) ([]checkpoint.Entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Store.List(ctx)
}
func (c clusterState) Backfills() ([]checkpoint.Backfill, error) { return nil, errBackfillsInDir }
func (c clusterState) Path(checkpoint.Key) string                { return c.topic }
func (c clusterState) BackfillExists(string) bool                { return false }
func (c clusterState) LoadBackfill(string) (checkpoint.Backfill, bool, error) {
	return checkpoint.Backfill{}, false, errBackfillsInDir
}
func (c clusterState) SaveBackfill(checkpoint.Backfill) error { return errBackfillsInDir }
func (c clusterState) DeleteBackfill(string) error            { return errBackfillsInDir }

// openClusterState opens the state topic; with idle, it refuses while
// processes of the connector group are running (they hold the cursors in
// memory and would write them back).
func openClusterState(cfg config.Config, idle bool) (clusterState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := cluster.StateConfig(cfg)
	if err != nil {
		return clusterState{}, err
	}
	if idle {
		n, err := cluster.Members(ctx, st)
		if err != nil {
			return clusterState{}, err
		}
		if n > 0 {
			return clusterState{}, fmt.Errorf("connector group %s has %d running processes: they hold the cursors and would write them back; stop them first (or add --force)", st.Group, n)
		}
	}
	s, err := kafkastore.Open(ctx, st)
	if err != nil {
		return clusterState{}, err
	}
	return clusterState{Store: s, topic: st.Topic}, nil
}

// migrate copies the state directory's daemon cursors into the state
// topic.
func (f *checkpointFlags) migrate(to string, e env) int {
	if to != "kafka" {
		fmt.Fprintln(e.stderr, "duo-connector checkpoint migrate: --to kafka is the one destination: the state topic of checkpoint.topic")
		return exitUsage
	}
	files, err := checkpoint.OpenExisting(f.cfg.StateDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint migrate: %v (stop the connector first)\n", err)
		return exitFailure
	}
	defer files.Close()
	entries, err := files.List(false)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint migrate: %v\n", err)
		return exitFailure
	}
	state, err := openClusterState(f.cfg, true)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint migrate: %v\n", err)
		return exitFailure
	}
	defer state.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	existing, err := state.Store.List(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint migrate: %v\n", err)
		return exitFailure
	}
	if len(existing) > 0 && !f.force {
		fmt.Fprintf(e.stderr, "duo-connector checkpoint migrate: the state topic %s already holds %d cursors of group %s: migrating would replace them; add --force to do so\n",
			f.cfg.Checkpoint.Topic, len(existing), f.cfg.Checkpoint.Group)
		return exitFailure
	}
	for _, en := range entries {
		if err := state.Save(ctx, en.Key, en.Cursor); err != nil {
			fmt.Fprintf(e.stderr, "duo-connector checkpoint migrate: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "copied %s to %s\n", en.Key, f.cfg.Checkpoint.Topic)
	}
	fmt.Fprintf(e.stdout, "%d cursors copied; set checkpoint.store: kafka and start the processes\n", len(entries))
	return exitOK
}

// checkClusterState checks the state topic (created compacted when
// missing, refused when not compacted, readable) and says how many
// processes the connector group has.
func checkClusterState(cfg config.Config) (string, error) {
	state, err := openClusterState(cfg, false)
	if err != nil {
		return "", err
	}
	defer state.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cursors, err := state.Store.List(ctx)
	if err != nil {
		return "", err
	}
	if err := state.Probe(ctx); err != nil {
		return "", err
	}
	st, err := cluster.StateConfig(cfg)
	if err != nil {
		return "", err
	}
	members, _ := cluster.Members(ctx, st)
	return fmt.Sprintf("state topic %s is compacted and writable, %d partitions, %d cursors of group %s, %d processes running",
		cfg.Checkpoint.Topic, state.Partitions(), len(cursors), cfg.Checkpoint.Group, members), nil
}
