package storage

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every backend. Callers test them with errors.Is; backends wrap them
// with %w to add the key.
var (
	ErrNotFound   = errors.New("key not found")
	ErrKeyExists  = errors.New("key already exists")
	ErrConflict   = errors.New("revision mismatch")
	ErrCompacted  = errors.New("revision compacted")
	ErrFuture     = errors.New("revision is in the future")
	ErrBadRequest = errors.New("bad storage request")
	// ErrUnavailable means the backend cannot answer now (quorum lost, shutting down).
	ErrUnavailable = errors.New("storage unavailable")
)

// KeyValue is one stored object.
type KeyValue struct {
	Key   string
	Value []byte
	// ModRevision is the revision of the last change to this key.
	ModRevision int64
	// CreateRevision is the revision at which the key was created.
	CreateRevision int64
}

// ListOptions select a page of keys under a prefix.
type ListOptions struct {
	// Revision reads the snapshot at that revision; 0 means the latest.
	Revision int64
	// Limit caps the number of items; 0 means no limit.
	Limit int64
	// StartAfter continues a paged list after this key (exclusive).
	StartAfter string
}

// ListResult is one consistent page.
type ListResult struct {
	Items []KeyValue
	// Revision is the snapshot the page was read at.
	Revision int64
	// More is true when keys remain after the last item.
	More bool
	// Remaining counts the keys after this page when More is true (may be an estimate).
	Remaining int64
}

// EventType says what happened to a key.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
	// EventProgress carries no key: it tells a watcher that every change up to Revision
	// has been delivered (used for bookmarks).
	EventProgress
)

// Event is one change seen by a watch.
type Event struct {
	Type EventType
	// KV is the new value for EventPut; for EventDelete, Key and ModRevision (the deletion
	// revision) are set and Value holds the last value before the delete.
	KV KeyValue
	// Created is true for an EventPut that created the key.
	Created bool
	// PrevValue is the value before this change (nil on create).
	PrevValue []byte
	// Revision is the revision of the change (== KV.ModRevision for puts and deletes).
	Revision int64
}

// Watch is the stream of one watch; Events is closed when the watch ends, after which
// Err tells why (nil when the context was cancelled or Stop was called). Events for one
// watch arrive in revision order, without gaps or duplicates, and an EventProgress never
// carries a revision lower than an event already delivered.
type Watch interface {
	Events() <-chan Event
	Err() error
	Stop()
}

// Interface is what the API server needs from a backend. All methods are safe for
// concurrent use.
type Interface interface {
	// Create stores value under key if the key does not exist (ErrKeyExists otherwise) and
	// returns the revision of the write.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Get reads the latest value of key (ErrNotFound when absent).
	Get(ctx context.Context, key string) (KeyValue, error)
	// List reads keys under prefix in key order from one consistent snapshot. A Revision
	// older than the compaction point gives ErrCompacted; one newer than the store ErrFuture.
	// prefix must not be empty and StartAfter, when set, must lie under prefix
	// (ErrBadRequest otherwise). To page, pass the first page's Revision and its last key as
	// StartAfter to the next call.
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)
	// Update replaces key's value if its ModRevision equals expectedRevision (ErrConflict
	// otherwise, ErrNotFound when absent) and returns the revision of the write.
	// expectedRevision must be positive (ErrBadRequest otherwise): an update never creates.
	Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error)
	// CreateWithTTL is Create for a key that expires: the store deletes it (a delete that
	// watches see like any other) no sooner than ttl after the write, and at most
	// MaxTTLSlack(ttl) plus the backend's own granularity (etcd: a second) later. ttl must
	// be positive (ErrBadRequest otherwise).
	CreateWithTTL(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error)
	// UpdateWithTTL is Update that restarts the key's expiry at ttl (positive). A plain
	// Update makes the key permanent again, as a put without a lease does in etcd.
	UpdateWithTTL(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration) (int64, error)
	// Delete removes key if its ModRevision equals expectedRevision, or unconditionally when
	// expectedRevision is 0. It returns the deleted value and the revision of the delete.
	// ErrNotFound when the key is absent, ErrConflict when the guard does not match.
	Delete(ctx context.Context, key string, expectedRevision int64) (KeyValue, int64, error)
	// Watch streams changes to keys under prefix strictly after fromRevision (0: after the
	// store's revision when Watch is called, so no change made after Watch returns is missed).
	// A compacted fromRevision gives ErrCompacted (from Watch or later through Err).
	// When progress is true the watch also sends EventProgress events periodically.
	Watch(ctx context.Context, prefix string, fromRevision int64, progress bool) (Watch, error)
	// CurrentRevision returns the store's latest revision.
	CurrentRevision(ctx context.Context) (int64, error)
	// Compact discards history before revision: reads and watches that need an older
	// revision get ErrCompacted afterwards. A revision at or below the current compaction
	// point gives ErrCompacted; one newer than the store ErrFuture.
	Compact(ctx context.Context, revision int64) error
	// Close releases resources held by the client (not the data) and ends open watches
	// (their Err wraps ErrUnavailable); a Watch after Close gives ErrUnavailable.
	Close() error
}

// MaxTTLSlack is how much longer than its TTL a key may live. Backends may share one
// expiry between keys written close together (etcd: one lease for many keys, as
// kube-apiserver does for events), which makes some keys outlive their TTL by up to this
// much: a twentieth of the TTL, at most a minute.
func MaxTTLSlack(ttl time.Duration) time.Duration {
	return min(ttl/20, time.Minute)
}
