package app

import (
	"context"
	"fmt"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/checkpoint/kafkastore"
	"github.com/duo-connector/duo-connector/connector/cluster"
	"github.com/duo-connector/duo-connector/connector/config"
)

// Cursors are the saved cursors as the checkpoint commands see them: the
// state directory's files, or with checkpoint.store: kafka the state
// topic. A backfill's cursors and description are kept beside the
// daemon's (checkpoint.BackfillStore).
type Cursors interface {
	List(ctx context.Context) ([]checkpoint.Entry, error)
	Delete(ctx context.Context, key checkpoint.Key) error
	// Where says where key is kept: a file, or the state topic.
	Where(key checkpoint.Key) string
	Close() error
}

// fileCursors is the state directory as Cursors (with the backfills'
// cursors too, when listed with backfills).
type fileCursors struct {
	*checkpoint.FileStore
	backfills bool
}

func (f fileCursors) List(context.Context) ([]checkpoint.Entry, error) {
	return f.FileStore.List(f.backfills)
}
func (f fileCursors) Where(key checkpoint.Key) string { return f.Path(key) }

// topicCursors is the state topic as Cursors.
type topicCursors struct {
	*kafkastore.Store
	topic     string
	backfills bool
}

func (t topicCursors) List(ctx context.Context) ([]checkpoint.Entry, error) {
	return t.Store.List(ctx, t.backfills)
}
func (t topicCursors) Where(checkpoint.Key) string { return t.topic }

// OpenCursors opens the saved cursors where the configuration keeps them,
// with the backfills' when backfills (listed with the cursors) and the
// store of the backfills' descriptions. To read, the state directory is
// opened without its lock: it can be read while the daemon runs. To write,
// it is locked (the daemon must be stopped), and the daemon's cursors on
// the state topic are refused while processes of the connector group run,
// unless force: they hold the cursors in memory and would write them
// back (a backfill's are not theirs). Closing the Cursors closes the
// store.
func OpenCursors(ctx context.Context, cfg config.Config, backfills, write, force bool) (Cursors, checkpoint.BackfillStore, error) {
	if cfg.Checkpoint.Store != "kafka" {
		open := checkpoint.OpenReadOnly
		if write {
			open = checkpoint.OpenExisting
		}
		files, err := open(cfg.StateDir)
		if err != nil {
			return nil, nil, err
		}
		return fileCursors{files, backfills}, files, nil
	}
	s, topic, err := openState(ctx, cfg, write && !force && !backfills)
	if err != nil {
		return nil, nil, err
	}
	return topicCursors{s, topic, backfills}, s, nil
}

func openState(ctx context.Context, cfg config.Config, exclusive bool) (*kafkastore.Store, string, error) {
	st, err := cluster.StateConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	if exclusive {
		n, err := cluster.Members(ctx, st)
		if err != nil {
			return nil, "", err
		}
		if n > 0 {
			return nil, "", fmt.Errorf("connector group %s has %d running processes: they hold the cursors and would write them back; stop them first (or add --force)", st.Group, n)
		}
	}
	s, err := kafkastore.Open(ctx, st)
	if err != nil {
		return nil, "", err
	}
	return s, st.Topic, nil
}

// AlreadyMigratedError is a state topic that holds cursors already.
type AlreadyMigratedError struct {
	Topic, Group string
	Cursors      int
}

func (e *AlreadyMigratedError) Error() string {
	return fmt.Sprintf("the state topic %s already holds %d cursors of group %s: migrating would replace them; add --force to do so", e.Topic, e.Cursors, e.Group)
}

// Migrate copies the state directory's daemon cursors into the state
// topic (cluster mode), so that an installation moves to cluster mode
// without reading anything twice; copied is called for each. A topic that
// holds cursors already is an *AlreadyMigratedError unless force.
func Migrate(ctx context.Context, cfg config.Config, force bool, copied func(checkpoint.Key)) (int, error) {
	files, err := checkpoint.OpenExisting(cfg.StateDir)
	if err != nil {
		return 0, fmt.Errorf("%w (stop the connector first)", err)
	}
	defer files.Close()
	entries, err := files.List(false)
	if err != nil {
		return 0, err
	}
	state, topic, err := openState(ctx, cfg, true)
	if err != nil {
		return 0, err
	}
	defer state.Close()
	existing, err := state.List(ctx, false)
	if err != nil {
		return 0, err
	}
	if len(existing) > 0 && !force {
		return 0, &AlreadyMigratedError{Topic: topic, Group: cfg.Checkpoint.Group, Cursors: len(existing)}
	}
	for _, en := range entries {
		if err := state.Save(ctx, en.Key, en.Cursor); err != nil {
			return 0, err
		}
		copied(en.Key)
	}
	return len(entries), nil
}

// checkState checks the state topic (created compacted when missing,
// refused when not compacted, readable) and says how many processes the
// connector group has.
func checkState(ctx context.Context, cfg config.Config) (string, error) {
	state, topic, err := openState(ctx, cfg, false)
	if err != nil {
		return "", err
	}
	defer state.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cursors, err := state.List(ctx, false)
	if err != nil {
		return "", err
	}
	if err := state.CheckWritable(ctx); err != nil {
		return "", err
	}
	st, err := cluster.StateConfig(cfg)
	if err != nil {
		return "", err
	}
	members, _ := cluster.Members(ctx, st)
	return fmt.Sprintf("state topic %s is compacted and writable, %d partitions, %d cursors of group %s, %d processes running",
		topic, state.Partitions(), len(cursors), cfg.Checkpoint.Group, members), nil
}
