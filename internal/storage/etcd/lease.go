package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth/berth/internal/storage"
)

// leases hands out etcd leases for keys with a TTL, sharing one lease between the keys
// written within storage.MaxTTLSlack of each other, as kube-apiserver's lease manager
// does: one lease per event would mean a grant (a raft write) per event and as many
// leases for etcd to track.
type leases struct {
	client *clientv3.Client
	now    func() time.Time

	mu sync.Mutex
	// byTTL is the current lease for each TTL in use (only events have one today).
	byTTL map[time.Duration]lease
}

type lease struct {
	id      clientv3.LeaseID
	expires time.Time // by our clock, from the grant
}

// get returns a lease under which a key lives at least ttl and at most ttl plus
// MaxTTLSlack plus a second (etcd counts leases in whole seconds).
func (l *leases) get(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	slack := storage.MaxTTLSlack(ttl)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.byTTL[ttl]; ok {
		if left := cur.expires.Sub(now); left >= ttl && left <= ttl+slack+time.Second {
			return cur.id, nil
		}
	}
	secs := int64((ttl + slack + time.Second - 1) / time.Second)
	resp, err := l.client.Grant(ctx, secs)
	if err != nil {
		return 0, mapError("grant lease", "", err)
	}
	if l.byTTL == nil {
		l.byTTL = map[time.Duration]lease{}
	}
	// etcd may have granted a longer TTL than asked (its minimum); use what it says.
	l.byTTL[ttl] = lease{id: resp.ID, expires: now.Add(time.Duration(resp.TTL) * time.Second)}
	return resp.ID, nil
}

// drop forgets the lease for ttl, so the next get grants a new one.
func (l *leases) drop(ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byTTL, ttl)
}
