package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/duo-connector/duo-connector/checkpoint"
	"github.com/duo-connector/duo-connector/connector/config"
	"github.com/duo-connector/duo-connector/connector/duo"
	"github.com/duo-connector/duo-connector/connector/publish"
	"github.com/duo-connector/duo-connector/connector/runner"
	"github.com/duo-connector/duo-connector/normalize"
)

// NewRunner builds a runner's parts from the configuration, and the
// runner over them: the normalizer, the Duo client every account's client
// shares, the Kafka publisher, and the cursors' store (store, or the
// state directory's files when store is nil).
func NewRunner(ctx context.Context, cfg config.Config, logger *slog.Logger, store checkpoint.Store, opts runner.Options, giveUpAfter time.Duration) (*runner.Runner, error) {
	var p runner.Parts
	var err error
	fail := func(err error) (*runner.Runner, error) { p.Close(); return nil, err }
	if p.Normalizer, err = normalize.New(cfg.NormalizeOptions(logger)); err != nil {
		return nil, err
	}
	var observer duo.Observer
	if opts.Metrics != nil {
		observer = opts.Metrics
	}
	if p.Duo, err = duoClient(cfg, logger, opts.Now, observer); err != nil {
		return nil, fmt.Errorf("duo client: %w", err)
	}
	p.Store = store
	if store == nil {
		if p.Files, err = checkpoint.Open(cfg.StateDir); err != nil {
			return fail(err)
		}
	}
	pc := cfg.PublishConfig(logger)
	pc.GiveUpAfter = giveUpAfter
	if opts.Metrics != nil {
		pc.OnRetry = opts.Metrics.KafkaRetry
	}
	if p.Publisher, err = publish.New(pc); err != nil {
		return fail(fmt.Errorf("kafka: %w", err))
	}
	return runner.New(ctx, cfg, logger, p, opts)
}

// duoClient is the client of the configuration's one account, or of the
// MSP parent whose children are discovered: every account's client
// (ForAccount) shares its transport.
func duoClient(cfg config.Config, logger *slog.Logger, now func() time.Time, observer duo.Observer) (*duo.Client, error) {
	dc := cfg.DuoConfig(logger)
	if static := cfg.Accounts(); len(static) > 0 {
		if _, _, discover := cfg.Discovery(); !discover {
			a := static[0]
			dc.APIHost, dc.IKey, dc.SKey, dc.AccountID = a.APIHost, a.IKey, a.SKey, a.ID
		}
	}
	dc.Now, dc.Observer = now, observer
	return duo.NewClient(dc)
}
