package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/berth/berth/internal/storage"
)

// DefaultCompactInterval is how often the server compacts storage history, as
// kube-apiserver's --etcd-compaction-interval does by default.
const DefaultCompactInterval = 5 * time.Minute

// compactor discards storage history older than about one interval: at every tick it
// compacts to the revision it saw at the previous tick, so watches and paged lists that
// are less than one interval behind keep working and older ones get 410 Gone.
type compactor struct {
	store    storage.Interface
	interval time.Duration
	log      *slog.Logger
}

// run compacts until ctx ends.
func (c *compactor) run(ctx context.Context) {
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	var previous int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		previous = c.tick(ctx, previous)
	}
}

// tick compacts to previous (when set) and returns the revision to compact to next time.
func (c *compactor) tick(ctx context.Context, previous int64) int64 {
	current, err := c.store.CurrentRevision(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("compaction: read current revision", "err", err)
		}
		return previous
	}
	if previous > 0 {
		// ErrCompacted means someone (another server on the same etcd) already compacted
		// at or past previous: nothing left to do.
		if err := c.store.Compact(ctx, previous); err != nil && !errors.Is(err, storage.ErrCompacted) {
			if ctx.Err() == nil {
				c.log.Warn("compaction failed", "revision", previous, "err", err)
			}
		} else if err == nil {
			c.log.Debug("compacted storage history", "revision", previous)
		}
	}
	return current
}
