package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/internal/stream"
)

// Watch implements storage.Interface.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64, progress bool) (storage.Watch, error) {
	if prefix == "" || fromRevision < 0 {
		return nil, fmt.Errorf("watch %q from %d: %w", prefix, fromRevision, storage.ErrBadRequest)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("watch %q: store closed: %w", prefix, storage.ErrUnavailable)
	}
	s.watchers.Add(1)
	s.mu.Unlock()

	start, err := s.watchStart(ctx, prefix, fromRevision)
	if err != nil {
		s.watchers.Done()
		return nil, err
	}

	watchCtx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.closeCtx, cancel)
	// RequireLeader makes etcd end the watch when the member loses its leader instead of
	// leaving it silently stale; the same context must be used for RequestProgress because
	// the client picks the gRPC stream by the context's metadata.
	watchCtx = clientv3.WithRequireLeader(watchCtx)

	w := stream.New(cancel)
	upstream := s.client.Watch(watchCtx, prefix,
		clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV())
	go func() {
		defer s.watchers.Done()
		defer stopOnClose()
		defer cancel()
		err := s.pump(watchCtx, w, upstream, prefix, start-1, progress)
		if err == nil && s.closeCtx.Err() != nil && ctx.Err() == nil && !w.Stopped() {
			err = fmt.Errorf("watch %q: store closed: %w", prefix, storage.ErrUnavailable)
		}
		w.Finish(err)
	}()
	return w, nil
}

// watchStart returns the first revision the etcd watch must deliver. It reads once before
// watching so that a compacted start fails now rather than on the stream, and so that
// "from now" means the revision at the call, not whenever etcd registers the watcher.
func (s *Store) watchStart(ctx context.Context, prefix string, fromRevision int64) (int64, error) {
	if fromRevision == 0 {
		rev, err := s.CurrentRevision(ctx)
		if err != nil {
			return 0, err
		}
		return rev + 1, nil
	}
	_, err := s.client.Get(ctx, prefix, clientv3.WithRev(fromRevision+1), clientv3.WithCountOnly())
	if err != nil {
		mapped := mapError("watch", prefix, err)
		// Watching from a revision not yet written waits for it, as etcd does.
		if !errors.Is(mapped, storage.ErrFuture) {
			return 0, mapped
		}
	}
	return fromRevision + 1, nil
}

// pump copies etcd responses to w until the context ends or the stream fails. lastRevision
// is the newest revision the caller has seen; progress events never go below it.
func (s *Store) pump(ctx context.Context, w *stream.Stream, upstream clientv3.WatchChan, prefix string, lastRevision int64, progress bool) error {
	var progressTick <-chan int64
	if progress {
		ch, unsubscribe := s.progress.subscribe()
		defer unsubscribe()
		progressTick = ch
	}
	send := func(ev storage.Event) bool { return w.Send(ctx, ev) }
	// notified: a progress notification came since the last tick.
	notified := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case rev := <-progressTick:
			// No notification for a whole interval, and the store has not moved past what
			// this watch delivered: that revision is itself a safe progress point.
			if !notified && rev >= 0 && rev <= lastRevision {
				if !send(storage.Event{Type: storage.EventProgress, Revision: lastRevision}) {
					return nil
				}
			}
			notified = false
		case resp, ok := <-upstream:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("watch %q: stream closed: %w", prefix, storage.ErrUnavailable)
			}
			if err := resp.Err(); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return mapError("watch", prefix, err)
			}
			if resp.IsProgressNotify() {
				if !progress {
					continue
				}
				// etcd before 3.4.26/3.5.8 could announce a revision below events already
				// sent; never let a bookmark go backwards.
				if resp.Header.Revision >= lastRevision {
					notified = true
					lastRevision = resp.Header.Revision
					if !send(storage.Event{Type: storage.EventProgress, Revision: lastRevision}) {
						return nil
					}
				}
				continue
			}
			for _, ev := range resp.Events {
				converted := toEvent(ev)
				if !send(converted) {
					return nil
				}
				lastRevision = converted.Revision
			}
		}
	}
}

func toEvent(ev *clientv3.Event) storage.Event {
	out := storage.Event{Revision: ev.Kv.ModRevision}
	if ev.PrevKv != nil {
		out.PrevValue = ev.PrevKv.Value
	}
	if ev.Type == mvccpb.DELETE {
		out.Type = storage.EventDelete
		out.KV = storage.KeyValue{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision}
		if ev.PrevKv != nil {
			out.KV.Value = ev.PrevKv.Value
			out.KV.CreateRevision = ev.PrevKv.CreateRevision
		}
		return out
	}
	out.Type = storage.EventPut
	out.KV = toKeyValue(ev.Kv)
	out.Created = ev.IsCreate()
	return out
}
