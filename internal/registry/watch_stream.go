package registry

import (
	"context"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/storage"
)

// objEvent is a storage change with its object decoded once. Events may be shared by
// many watchers (the watch cache): nobody mutates obj or prev.
type objEvent struct {
	typ storage.EventType
	rev int64
	key string
	// obj is the new state of a put, or the last state of a deleted object (with the
	// deletion revision as resourceVersion).
	obj runtime.Object
	// prevRaw is the stored state before a put (nil on create); decoded on demand.
	prevRaw  []byte
	prevOnce sync.Once
	prev     runtime.Object
	prevErr  error
}

func (e *objEvent) previous(s *Store) (runtime.Object, error) {
	e.prevOnce.Do(func() {
		e.prev, e.prevErr = s.codec.decode(s.Res, storage.KeyValue{Key: e.key, Value: e.prevRaw})
	})
	return e.prev, e.prevErr
}

// decodeEvent decodes one storage event.
func (s *Store) decodeEvent(ev storage.Event) (*objEvent, error) {
	out := &objEvent{typ: ev.Type, rev: ev.Revision, key: ev.KV.Key}
	switch ev.Type {
	case storage.EventProgress:
		return out, nil
	case storage.EventDelete:
		obj, err := s.codec.decode(s.Res, storage.KeyValue{Key: ev.KV.Key, Value: ev.KV.Value, ModRevision: ev.Revision})
		out.obj = obj
		return out, err
	}
	obj, err := s.codec.decode(s.Res, ev.KV)
	out.obj = obj
	if !ev.Created {
		out.prevRaw = ev.PrevValue
	}
	return out, err
}

// eventStream is a watch's source of decoded changes.
type eventStream interface {
	Events() <-chan *objEvent
	Err() error
	Stop()
}

// openStream watches keys under prefix after rev: from the watch cache when it covers
// rev, else straight from storage.
func (s *Store) openStream(ctx context.Context, prefix string, rev int64, progress bool) (eventStream, error) {
	if c := s.cache; c != nil && rev > 0 {
		// The cache remembers past storage compaction; a compacted revision must still
		// answer 410 Gone, so ask storage (one cheap range read) before serving it.
		if _, err := s.storage.List(ctx, prefix, storage.ListOptions{Revision: rev, Limit: 1}); errors.Is(err, storage.ErrCompacted) {
			return nil, err
		}
		if stream, ok := c.subscribe(prefix, rev); ok {
			return stream, nil
		}
	}
	sw, err := s.storage.Watch(ctx, prefix, rev, progress)
	if err != nil {
		return nil, err
	}
	d := &directStream{ch: make(chan *objEvent, 16), sw: sw, done: make(chan struct{})}
	go d.run(ctx, s)
	return d, nil
}

// directStream decodes a storage watch for one watcher.
type directStream struct {
	ch   chan *objEvent
	sw   storage.Watch
	done chan struct{}
	once sync.Once
}

func (d *directStream) Events() <-chan *objEvent { return d.ch }
func (d *directStream) Err() error               { return d.sw.Err() }
func (d *directStream) Stop() {
	d.once.Do(func() { close(d.done) })
	d.sw.Stop()
}

func (d *directStream) run(ctx context.Context, s *Store) {
	defer close(d.ch)
	for ev := range d.sw.Events() {
		out, err := s.decodeEvent(ev)
		if err != nil {
			s.log.Error("watch decode", "resource", s.Res.Name, "key", ev.KV.Key, "err", err)
			continue
		}
		select {
		case d.ch <- out:
		case <-d.done:
			return
		case <-ctx.Done():
			return
		}
	}
}
