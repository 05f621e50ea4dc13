package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth/berth/internal/storage"
)

// DefaultProgressInterval is how often a progress-enabled watch asks etcd for a progress
// notification when Options.ProgressInterval is zero.
const DefaultProgressInterval = 5 * time.Second

// Options tune a Store.
type Options struct {
	// ProgressInterval is how often a watch opened with progress=true requests a progress
	// notification from etcd (0: DefaultProgressInterval).
	ProgressInterval time.Duration
}

// Store implements storage.Interface over an etcd v3 client.
type Store struct {
	client           *clientv3.Client
	progressInterval time.Duration

	// watchers tracks the goroutines of open watches so Close can end and wait for them.
	mu       sync.Mutex
	closed   bool
	stopAll  context.CancelFunc
	closeCtx context.Context
	watchers sync.WaitGroup
	progress progressHub
	leases   leases
}

var _ storage.Interface = (*Store)(nil)

// New returns a Store using client. The caller keeps ownership of client: Store.Close ends
// the store's watches but does not close the client.
func New(client *clientv3.Client, opts Options) *Store {
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{client: client, progressInterval: opts.ProgressInterval, closeCtx: ctx, stopAll: cancel}
	s.progress.store = s
	s.leases = leases{client: client, now: time.Now}
	return s
}

// Create implements storage.Interface.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	return s.create(ctx, key, value, 0)
}

// CreateWithTTL implements storage.Interface: the key is put under a lease.
func (s *Store) CreateWithTTL(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("create %q with TTL %s: %w", key, ttl, storage.ErrBadRequest)
	}
	return s.create(ctx, key, value, ttl)
}

// putOp is the put of a write, under a lease when ttl is set.
func (s *Store) putOp(ctx context.Context, key string, value []byte, ttl time.Duration) (clientv3.Op, error) {
	// OpPut copies the value into the op at once, so the string may share value's
	// bytes: string(value) was a second copy of every object written.
	v := unsafe.String(unsafe.SliceData(value), len(value))
	if ttl <= 0 {
		return clientv3.OpPut(key, v), nil
	}
	id, err := s.leases.get(ctx, ttl)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(key, v, clientv3.WithLease(id)), nil
}

// commitPut runs txn with the put of a write. A shared lease that is gone (revoked by
// someone else, or expired while etcd was unreachable) is dropped and the write retried
// once under a fresh one.
func (s *Store) commitPut(ctx context.Context, key string, value []byte, ttl time.Duration, txn func(clientv3.Op) (*clientv3.TxnResponse, error)) (*clientv3.TxnResponse, error) {
	for attempt := 0; ; attempt++ {
		put, err := s.putOp(ctx, key, value, ttl)
		if err != nil {
			return nil, err
		}
		resp, err := txn(put)
		if ttl > 0 && attempt == 0 && (errors.Is(err, rpctypes.ErrLeaseNotFound) || errors.Is(err, rpctypes.ErrGRPCLeaseNotFound)) {
			s.leases.drop(ttl)
			continue
		}
		return resp, err
	}
}

func (s *Store) create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("create: empty key: %w", storage.ErrBadRequest)
	}
	resp, err := s.commitPut(ctx, key, value, ttl, func(put clientv3.Op) (*clientv3.TxnResponse, error) {
		return s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(put).
			Commit()
	})
	if err != nil {
		return 0, mapError("create", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("create %q: %w", key, storage.ErrKeyExists)
	}
	return resp.Header.Revision, nil
}

// Get implements storage.Interface.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if key == "" {
		return storage.KeyValue{}, fmt.Errorf("get: empty key: %w", storage.ErrBadRequest)
	}
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return storage.KeyValue{}, mapError("get", key, err)
	}
	if len(resp.Kvs) == 0 {
		return storage.KeyValue{}, fmt.Errorf("get %q: %w", key, storage.ErrNotFound)
	}
	return toKeyValue(resp.Kvs[0]), nil
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
	start := prefix
	if opts.StartAfter != "" {
		// The smallest key greater than StartAfter.
		start = opts.StartAfter + "\x00"
	}
	getOpts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix))}
	if opts.Limit > 0 {
		getOpts = append(getOpts, clientv3.WithLimit(opts.Limit))
	}
	if opts.Revision > 0 {
		getOpts = append(getOpts, clientv3.WithRev(opts.Revision))
	}
	resp, err := s.client.Get(ctx, start, getOpts...)
	if err != nil {
		return storage.ListResult{}, mapError("list", prefix, err)
	}
	result := storage.ListResult{
		Items:    make([]storage.KeyValue, 0, len(resp.Kvs)),
		Revision: resp.Header.Revision,
		More:     resp.More,
	}
	if opts.Revision > 0 {
		// The header carries the store's current revision; the snapshot is the one asked for.
		result.Revision = opts.Revision
	}
	for _, kv := range resp.Kvs {
		result.Items = append(result.Items, toKeyValue(kv))
	}
	if resp.More {
		// Count is the number of keys in the whole range from start, not just this page.
		result.Remaining = resp.Count - int64(len(resp.Kvs))
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
	resp, err := s.commitPut(ctx, key, value, ttl, func(put clientv3.Op) (*clientv3.TxnResponse, error) {
		return s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", expectedRevision)).
			Then(put).
			Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
			Commit()
	})
	if err != nil {
		return 0, mapError("update", key, err)
	}
	if !resp.Succeeded {
		return 0, guardFailure("update", key, expectedRevision, resp)
	}
	return resp.Header.Revision, nil
}

// Delete implements storage.Interface.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, int64, error) {
	if key == "" || expectedRevision < 0 {
		return storage.KeyValue{}, 0, fmt.Errorf("delete %q at revision %d: %w", key, expectedRevision, storage.ErrBadRequest)
	}
	var guard clientv3.Cmp
	if expectedRevision > 0 {
		guard = clientv3.Compare(clientv3.ModRevision(key), "=", expectedRevision)
	} else {
		guard = clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	}
	resp, err := s.client.Txn(ctx).
		If(guard).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return storage.KeyValue{}, 0, mapError("delete", key, err)
	}
	if !resp.Succeeded {
		return storage.KeyValue{}, 0, guardFailure("delete", key, expectedRevision, resp)
	}
	deleted := resp.Responses[0].GetResponseDeleteRange()
	if deleted == nil || len(deleted.PrevKvs) == 0 {
		// The guard held inside the transaction, so the key existed; etcd always returns it.
		return storage.KeyValue{}, 0, fmt.Errorf("delete %q: etcd returned no previous value", key)
	}
	return toKeyValue(deleted.PrevKvs[0]), resp.Header.Revision, nil
}

// guardFailure explains a failed compare: the Else branch read the key to tell a missing key
// from a stale revision.
func guardFailure(op, key string, expectedRevision int64, resp *clientv3.TxnResponse) error {
	if len(resp.Responses) == 0 {
		return fmt.Errorf("%s %q: %w", op, key, storage.ErrNotFound)
	}
	got := resp.Responses[0].GetResponseRange()
	if got == nil || len(got.Kvs) == 0 {
		return fmt.Errorf("%s %q: %w", op, key, storage.ErrNotFound)
	}
	return fmt.Errorf("%s %q: expected revision %d, have %d: %w", op, key, expectedRevision, got.Kvs[0].ModRevision, storage.ErrConflict)
}

// CurrentRevision implements storage.Interface.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	// A range over one key that is never stored is the cheapest linearizable read of the
	// header revision.
	resp, err := s.client.Get(ctx, revisionProbeKey, clientv3.WithCountOnly())
	if err != nil {
		return 0, mapError("current revision", "", err)
	}
	return resp.Header.Revision, nil
}

// revisionProbeKey is read, never written, to learn the store's revision.
const revisionProbeKey = "/berth/revision-probe"

// Compact implements storage.Interface.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	if revision <= 0 {
		return fmt.Errorf("compact at %d: %w", revision, storage.ErrBadRequest)
	}
	if _, err := s.client.Compact(ctx, revision); err != nil {
		return mapError("compact", fmt.Sprint(revision), err)
	}
	return nil
}

// Close ends every open watch and waits for their goroutines. The client stays open.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stopAll()
	s.watchers.Wait()
	return nil
}

func toKeyValue(kv *mvccpb.KeyValue) storage.KeyValue {
	return storage.KeyValue{
		Key:            string(kv.Key),
		Value:          kv.Value,
		ModRevision:    kv.ModRevision,
		CreateRevision: kv.CreateRevision,
	}
}
