package memory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/internal/stream"
)

// Watch implements storage.Interface. Each watch has one goroutine that reads the shared
// event history from its own cursor, so a slow watcher never blocks writers.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64, progress bool) (storage.Watch, error) {
	if prefix == "" || fromRevision < 0 {
		return nil, fmt.Errorf("watch %q from %d: %w", prefix, fromRevision, storage.ErrBadRequest)
	}
	s.mu.Lock()
	if err := s.usableLocked(ctx); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if fromRevision == 0 {
		fromRevision = s.revision
	}
	if fromRevision+1 < s.historyStart {
		s.mu.Unlock()
		return nil, fmt.Errorf("watch %q from %d (history starts at %d): %w", prefix, fromRevision, s.historyStart, storage.ErrCompacted)
	}
	s.watchers.Add(1)
	s.mu.Unlock()

	watchCtx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.closeCtx, cancel)
	w := stream.New(cancel)
	go func() {
		defer s.watchers.Done()
		defer stopOnClose()
		defer cancel()
		err := s.pump(watchCtx, w, prefix, fromRevision, progress)
		if err == nil && s.closeCtx.Err() != nil && ctx.Err() == nil && !w.Stopped() {
			err = fmt.Errorf("watch %q: store closed: %w", prefix, storage.ErrUnavailable)
		}
		w.Finish(err)
	}()
	return w, nil
}

// pump delivers events after fromRevision until ctx ends or the history it needs is gone.
func (s *Store) pump(ctx context.Context, w *stream.Stream, prefix string, fromRevision int64, progress bool) error {
	var progressTick <-chan time.Time
	if progress {
		ticker := time.NewTicker(s.progressInterval)
		defer ticker.Stop()
		progressTick = ticker.C
	}
	next := fromRevision + 1
	progressDue := false
	for {
		batch, seen, wake, err := s.eventsFrom(prefix, next)
		if err != nil {
			return err
		}
		for _, ev := range batch {
			if !w.Send(ctx, ev) {
				return nil
			}
		}
		next = max(next, seen+1)
		if progressDue {
			if !w.Send(ctx, storage.Event{Type: storage.EventProgress, Revision: next - 1}) {
				return nil
			}
			progressDue = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-progressTick:
			progressDue = true
		}
	}
}

// eventsFrom returns copies of the events under prefix with Revision >= next, the store
// revision they cover up to, and a channel closed on the next change.
func (s *Store) eventsFrom(prefix string, next int64) ([]storage.Event, int64, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if next < s.historyStart {
		return nil, 0, nil, fmt.Errorf("watch %q at %d (history starts at %d): %w", prefix, next, s.historyStart, storage.ErrCompacted)
	}
	first := sort.Search(len(s.history), func(i int) bool { return s.history[i].Revision >= next })
	var batch []storage.Event
	for _, ev := range s.history[first:] {
		if strings.HasPrefix(ev.KV.Key, prefix) {
			ev.KV.Value = clone(ev.KV.Value)
			ev.PrevValue = clone(ev.PrevValue)
			batch = append(batch, ev)
		}
	}
	return batch, s.revision, s.changed, nil
}
