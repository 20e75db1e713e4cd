// Package logctx carries a logger in a context, so that shared components
// (the Duo client, the Kafka publisher) log with the attributes of the work
// they do it for: the account and the log type of the poll.
package logctx

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns ctx carrying logger.
func With(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, key{}, logger)
}

// From returns the logger ctx carries, or fallback.
func From(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(key{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}
