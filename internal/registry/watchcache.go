package registry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/storage"
)

// watchCache keeps one storage watch per resource and fans its decoded events out to
// every API watch, so that N watchers cost one etcd watch and one decode per change
// instead of N. It remembers the last events so watches resuming from a recent
// resourceVersion are served from memory; older ones fall back to storage.
type watchCache struct {
	s        *Store
	capacity int

	mu sync.Mutex
	// ring holds the last events in revision order; every change after since is in it.
	ring  []*objEvent
	head  int
	size  int
	since int64
	// rev is the newest revision the cache has seen (events and progress).
	rev   int64
	ready bool
	subs  map[*cacheStream]struct{}
	// latest indexes the ring by key: the newest put of each key still in the ring.
	// Updates start from it instead of reading storage (see Store.Update).
	latest map[string]*objEvent
}

// StartWatchCache serves this store's watches from one shared storage watch until ctx
// ends. capacity is how many recent events are kept for resuming watches.
func (s *Store) StartWatchCache(ctx context.Context, capacity int) {
	c := &watchCache{s: s, capacity: capacity, ring: make([]*objEvent, capacity), subs: map[*cacheStream]struct{}{},
		latest: map[string]*objEvent{}}
	s.cache = c
	go c.run(ctx)
}

func (c *watchCache) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.follow(ctx)
		c.reset()
		if ctx.Err() != nil {
			return
		}
		c.s.log.Warn("watch cache restarting", "resource", c.s.Res.Name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// follow watches storage from the current revision until the watch breaks.
func (c *watchCache) follow(ctx context.Context) error {
	rev, err := c.s.storage.CurrentRevision(ctx)
	if err != nil {
		return err
	}
	sw, err := c.s.storage.Watch(ctx, c.s.Res.KeyPrefix(""), rev, true)
	if err != nil {
		return err
	}
	defer sw.Stop()
	c.mu.Lock()
	c.since, c.rev, c.ready = rev, rev, true
	c.mu.Unlock()
	for ev := range sw.Events() {
		out, err := c.s.decodeEvent(ev)
		if err != nil {
			c.s.log.Error("watch cache decode", "resource", c.s.Res.Name, "key", ev.KV.Key, "err", err)
			continue
		}
		c.append(out)
	}
	return sw.Err()
}

// reset ends every subscriber (they resume through a new watch) and forgets history.
func (c *watchCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready = false
	c.head, c.size = 0, 0
	clear(c.ring)
	clear(c.latest)
	for sub := range c.subs {
		sub.lost = true
		sub.closeLocked()
	}
	clear(c.subs)
}

func (c *watchCache) append(ev *objEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.rev > c.rev {
		c.rev = ev.rev
	}
	if ev.typ != storage.EventProgress {
		if c.size == c.capacity {
			// The oldest event leaves: resuming before it needs storage.
			oldest := c.ring[c.head]
			c.since = oldest.rev
			if c.latest[oldest.key] == oldest {
				delete(c.latest, oldest.key)
			}
			c.ring[c.head] = nil
			c.head = (c.head + 1) % c.capacity
			c.size--
		}
		c.ring[(c.head+c.size)%c.capacity] = ev
		c.size++
		if ev.typ == storage.EventPut {
			c.latest[ev.key] = ev
		} else {
			delete(c.latest, ev.key)
		}
	}
	for sub := range c.subs {
		sub.deliverLocked(ev)
	}
}

// get returns the newest state of key the cache has seen, when a put of it is still in
// the ring. It may lag storage: callers must write conditionally on its revision.
func (c *watchCache) get(key string) (*objEvent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev, ok := c.latest[key]
	return ev, ok && c.ready
}

// subscribe returns a stream of changes under prefix after rev, or false when the cache
// cannot serve it (not ready, or rev older than what it remembers).
func (c *watchCache) subscribe(prefix string, rev int64) (eventStream, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready || rev < c.since || rev == 0 {
		return nil, false
	}
	sub := &cacheStream{c: c, prefix: prefix, from: rev, ch: make(chan *objEvent, 256+c.size)}
	for i := 0; i < c.size; i++ {
		sub.deliverLocked(c.ring[(c.head+i)%c.capacity])
	}
	c.subs[sub] = struct{}{}
	return sub, true
}

// cacheStream is one watcher's view of the cache.
type cacheStream struct {
	c      *watchCache
	prefix string
	from   int64
	ch     chan *objEvent
	closed bool
	// overflowed is set when the watcher fell too far behind and was cut off.
	overflowed bool
	// lost is set when the cache itself restarted: the watch may resume from storage.
	lost bool
}

// errCacheRestarted ends streams whose cache restarted; the watch resumes elsewhere.
var errCacheRestarted = errors.New("watch cache restarted")

func (cs *cacheStream) deliverLocked(ev *objEvent) {
	if cs.closed {
		return
	}
	if ev.typ == storage.EventProgress {
		// Progress at the watch's own start is still news to the client (a bookmark).
		if ev.rev < cs.from {
			return
		}
	} else if ev.rev <= cs.from || !strings.HasPrefix(ev.key, cs.prefix) {
		return
	}
	select {
	case cs.ch <- ev:
	default:
		// A watcher that does not keep up is cut off; it resumes from its last
		// resourceVersion, as with kube-apiserver's cacher.
		cs.overflowed = true
		cs.closeLocked()
		delete(cs.c.subs, cs)
	}
}

func (cs *cacheStream) closeLocked() {
	if !cs.closed {
		cs.closed = true
		close(cs.ch)
	}
}

func (cs *cacheStream) Events() <-chan *objEvent { return cs.ch }

// Err is nil for a cut-off stream (the client resumes) and errCacheRestarted when the
// cache restarted (the server resumes the watch from storage).
func (cs *cacheStream) Err() error {
	cs.c.mu.Lock()
	defer cs.c.mu.Unlock()
	if cs.lost {
		return errCacheRestarted
	}
	return nil
}

func (cs *cacheStream) Stop() {
	cs.c.mu.Lock()
	defer cs.c.mu.Unlock()
	cs.closeLocked()
	delete(cs.c.subs, cs)
}
