package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/storage"
)

// Defaults for Options fields left zero.
const (
	DefaultHistoryLimit     = 10000
	DefaultProgressInterval = 100 * time.Millisecond
)

// Options tune a Store.
type Options struct {
	// HistoryLimit caps the events kept for watches from a past revision; a watch that
	// needs an older event gets ErrCompacted, as after a compaction (0: DefaultHistoryLimit).
	HistoryLimit int
	// ProgressInterval is how often a watch opened with progress=true gets an
	// EventProgress (0: DefaultProgressInterval).
	ProgressInterval time.Duration
}

// version is one revision of one key; a tombstone marks a delete.
type version struct {
	value          []byte
	modRevision    int64
	createRevision int64
	tombstone      bool
}

// Store is an in-memory storage.Interface with etcd's revision semantics.
type Store struct {
	historyLimit     int
	progressInterval time.Duration

	mu sync.Mutex
	// revision is the store's latest revision; like etcd, a fresh store is at 1.
	revision int64
	// compacted is the compaction point: reads below it give ErrCompacted.
	compacted int64
	// versions holds every kept revision of each key, oldest first.
	versions map[string][]version
	// keys is every key in versions, sorted, for ordered range reads.
	keys []string
	// history holds every event with Revision >= historyStart, oldest first.
	history      []storage.Event
	historyStart int64
	// changed is closed and replaced on every write and compaction to wake watchers.
	changed chan struct{}
	closed  bool

	stopAll  context.CancelFunc
	closeCtx context.Context
	watchers sync.WaitGroup

	// expiries are the timers of keys written with a TTL, by key.
	expiries map[string]*time.Timer
}

var _ storage.Interface = (*Store)(nil)

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.HistoryLimit <= 0 {
		opts.HistoryLimit = DefaultHistoryLimit
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{
		historyLimit:     opts.HistoryLimit,
		progressInterval: opts.ProgressInterval,
		revision:         1,
		versions:         map[string][]version{},
		historyStart:     1,
		changed:          make(chan struct{}),
		closeCtx:         ctx,
		stopAll:          cancel,
		expiries:         map[string]*time.Timer{},
	}
}

// latest returns the current version of key, if it exists.
func (s *Store) latest(key string) (version, bool) {
	versions := s.versions[key]
	if len(versions) == 0 || versions[len(versions)-1].tombstone {
		return version{}, false
	}
	return versions[len(versions)-1], true
}

// at returns the version of key visible at revision, if the key existed then.
func (s *Store) at(key string, revision int64) (version, bool) {
	versions := s.versions[key]
	i := sort.Search(len(versions), func(i int) bool { return versions[i].modRevision > revision })
	if i == 0 || versions[i-1].tombstone {
		return version{}, false
	}
	return versions[i-1], true
}

// write records a new version of key at the next revision and wakes watchers. Callers hold mu.
func (s *Store) write(key string, value []byte, tombstone bool) int64 {
	s.revision++
	prev, existed := s.latest(key)
	next := version{value: value, modRevision: s.revision, createRevision: s.revision, tombstone: tombstone}
	if existed {
		next.createRevision = prev.createRevision
	}
	if _, known := s.versions[key]; !known {
		i, _ := slices.BinarySearch(s.keys, key)
		s.keys = slices.Insert(s.keys, i, key)
	}
	s.versions[key] = append(s.versions[key], next)

	event := storage.Event{Type: storage.EventPut, Revision: s.revision, Created: !existed}
	if existed {
		event.PrevValue = prev.value
	}
	event.KV = storage.KeyValue{Key: key, Value: value, ModRevision: s.revision, CreateRevision: next.createRevision}
	if tombstone {
		event.Type = storage.EventDelete
		event.Created = false
		event.KV.Value = prev.value
		event.KV.CreateRevision = prev.createRevision
	}
	s.history = append(s.history, event)
	if over := len(s.history) - s.historyLimit; over > 0 {
		s.historyStart = s.history[over-1].Revision + 1
		s.history = slices.Delete(s.history, 0, over)
	}
	s.wakeWatchers()
	return s.revision
}

func (s *Store) wakeWatchers() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Create implements storage.Interface.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	return s.create(ctx, key, value, 0)
}

// CreateWithTTL implements storage.Interface.
func (s *Store) CreateWithTTL(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("create %q with TTL %s: %w", key, ttl, storage.ErrBadRequest)
	}
	return s.create(ctx, key, value, ttl)
}

func (s *Store) create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("create: empty key: %w", storage.ErrBadRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(ctx); err != nil {
		return 0, err
	}
	if _, exists := s.latest(key); exists {
		return 0, fmt.Errorf("create %q: %w", key, storage.ErrKeyExists)
	}
	rev := s.write(key, clone(value), false)
	s.expireLocked(key, rev, ttl)
	return rev, nil
}

// expireLocked (re)sets key's expiry after a write at rev: none when ttl is 0. The timer
// deletes the key only if nothing wrote it since. Callers hold mu.
func (s *Store) expireLocked(key string, rev int64, ttl time.Duration) {
	if t := s.expiries[key]; t != nil {
		t.Stop()
		delete(s.expiries, key)
	}
	if ttl <= 0 {
		return
	}
	var timer *time.Timer
	timer = time.AfterFunc(ttl, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.expiries[key] != timer {
			return // rewritten or deleted since
		}
		delete(s.expiries, key)
		if current, ok := s.latest(key); ok && current.modRevision == rev && !s.closed {
			s.write(key, nil, true)
		}
	})
	s.expiries[key] = timer
}

// Get implements storage.Interface.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if key == "" {
		return storage.KeyValue{}, fmt.Errorf("get: empty key: %w", storage.ErrBadRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(ctx); err != nil {
		return storage.KeyValue{}, err
	}
	current, ok := s.latest(key)
	if !ok {
		return storage.KeyValue{}, fmt.Errorf("get %q: %w", key, storage.ErrNotFound)
	}
	return toKeyValue(key, current), nil
}

// List implements storage.Interface.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	if prefix == "" {
		return storage.ListResult{}, fmt.Errorf("list: empty prefix: %w", storage.ErrBadRequest)
	}
	if opts.StartAfter != "" && !strings.HasPrefix(opts.StartAfter, prefix) {
		return storage.ListResult{}, fmt.Errorf("list %q: start key %q outside prefix: %w", prefix, opts.StartAfter, storage.ErrBadRequest)
	}
	if opts.Limit < 0 || opts.Revision < 0 {
		return storage.ListResult{}, fmt.Errorf("list %q: negative limit or revision: %w", prefix, storage.ErrBadRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(ctx); err != nil {
		return storage.ListResult{}, err
	}
	revision := opts.Revision
	switch {
	case revision == 0:
		revision = s.revision
	case revision < s.compacted:
		return storage.ListResult{}, fmt.Errorf("list %q at %d (compacted at %d): %w", prefix, revision, s.compacted, storage.ErrCompacted)
	case revision > s.revision:
		return storage.ListResult{}, fmt.Errorf("list %q at %d (store at %d): %w", prefix, revision, s.revision, storage.ErrFuture)
	}

	result := storage.ListResult{Revision: revision, Items: []storage.KeyValue{}}
	start, _ := slices.BinarySearch(s.keys, prefix)
	if opts.StartAfter != "" {
		after, found := slices.BinarySearch(s.keys, opts.StartAfter)
		if found {
			after++
		}
		start = after
	}
	for _, key := range s.keys[start:] {
		if !strings.HasPrefix(key, prefix) {
			break
		}
		v, ok := s.at(key, revision)
		if !ok {
			continue
		}
		if opts.Limit > 0 && int64(len(result.Items)) >= opts.Limit {
			result.More = true
			result.Remaining++
			continue
		}
		result.Items = append(result.Items, toKeyValue(key, v))
	}
	return result, nil
}

// Update implements storage.Interface.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	return s.update(ctx, key, value, expectedRevision, 0)
}

// UpdateWithTTL implements storage.Interface.
func (s *Store) UpdateWithTTL(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("update %q with TTL %s: %w", key, ttl, storage.ErrBadRequest)
	}
	return s.update(ctx, key, value, expectedRevision, ttl)
}

func (s *Store) update(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration) (int64, error) {
	if key == "" || expectedRevision <= 0 {
		return 0, fmt.Errorf("update %q at revision %d: %w", key, expectedRevision, storage.ErrBadRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(ctx); err != nil {
		return 0, err
	}
	current, ok := s.latest(key)
	if !ok {
		return 0, fmt.Errorf("update %q: %w", key, storage.ErrNotFound)
	}
	if current.modRevision != expectedRevision {
		return 0, fmt.Errorf("update %q: expected revision %d, have %d: %w", key, expectedRevision, current.modRevision, storage.ErrConflict)
	}
	rev := s.write(key, clone(value), false)
	s.expireLocked(key, rev, ttl)
	return rev, nil
}

// Delete implements storage.Interface.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, int64, error) {
	if key == "" || expectedRevision < 0 {
		return storage.KeyValue{}, 0, fmt.Errorf("delete %q at revision %d: %w", key, expectedRevision, storage.ErrBadRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(ctx); err != nil {
		return storage.KeyValue{}, 0, err
	}
	current, ok := s.latest(key)
	if !ok {
		return storage.KeyValue{}, 0, fmt.Errorf("delete %q: %w", key, storage.ErrNotFound)
	}
	if expectedRevision != 0 && current.modRevision != expectedRevision {
		return storage.KeyValue{}, 0, fmt.Errorf("delete %q: expected revision %d, have %d: %w", key, expectedRevision, current.modRevision, storage.ErrConflict)
	}
	s.expireLocked(key, 0, 0)
	return toKeyValue(key, current), s.write(key, nil, true), nil
}

// CurrentRevision implements storage.Interface.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(ctx); err != nil {
		return 0, err
	}
	return s.revision, nil
}

// Compact implements storage.Interface with etcd's rules: the newest version of each key at
// or below revision survives (unless it is a delete), older ones go.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	if revision <= 0 {
		return fmt.Errorf("compact at %d: %w", revision, storage.ErrBadRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(ctx); err != nil {
		return err
	}
	if revision <= s.compacted {
		return fmt.Errorf("compact at %d (compacted at %d): %w", revision, s.compacted, storage.ErrCompacted)
	}
	if revision > s.revision {
		return fmt.Errorf("compact at %d (store at %d): %w", revision, s.revision, storage.ErrFuture)
	}
	s.compacted = revision
	kept := s.keys[:0]
	for _, key := range s.keys {
		versions := s.versions[key]
		// Index of the newest version visible at revision.
		visible := sort.Search(len(versions), func(i int) bool { return versions[i].modRevision > revision }) - 1
		if visible >= 0 && versions[visible].tombstone {
			visible++
		}
		if visible > 0 {
			versions = slices.Delete(versions, 0, visible)
		}
		if len(versions) == 0 {
			delete(s.versions, key)
			continue
		}
		s.versions[key] = versions
		kept = append(kept, key)
	}
	clear(s.keys[len(kept):])
	s.keys = kept

	drop := sort.Search(len(s.history), func(i int) bool { return s.history[i].Revision >= revision })
	s.history = slices.Delete(s.history, 0, drop)
	s.historyStart = max(s.historyStart, revision)
	s.wakeWatchers()
	return nil
}

// Close ends every open watch and waits for their goroutines; later calls fail with
// ErrUnavailable. The data stays in memory.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	for key, t := range s.expiries {
		t.Stop()
		delete(s.expiries, key)
	}
	s.mu.Unlock()
	s.stopAll()
	s.watchers.Wait()
	return nil
}

// usableLocked returns the reason a call cannot proceed: a finished context or a closed
// store. Callers hold mu.
func (s *Store) usableLocked(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return fmt.Errorf("memory store closed: %w", storage.ErrUnavailable)
	}
	return nil
}

func toKeyValue(key string, v version) storage.KeyValue {
	return storage.KeyValue{Key: key, Value: clone(v.value), ModRevision: v.modRevision, CreateRevision: v.createRevision}
}

// clone keeps callers from mutating stored bytes through a slice they passed in or got back.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return slices.Clone(b)
}
