package etcd_test

import (
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth/berth/internal/storage/etcd"
)

// Keys written with one TTL close together share a lease (a grant is a raft write, and
// etcd tracks every lease), and a revoked lease is replaced rather than failing writes.
func TestTTLKeysShareALease(t *testing.T) {
	embedded := startEmbedded(t, t.TempDir(), true)
	t.Cleanup(func() { _ = embedded.Close() })
	store := etcd.New(embedded.Client(), etcd.Options{})
	t.Cleanup(func() { _ = store.Close() })
	ctx := t.Context()
	for i := range 50 {
		if _, err := store.CreateWithTTL(ctx, fmt.Sprintf("/registry/events/default/e%d", i), []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	leases, err := embedded.Client().Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases.Leases) != 1 {
		t.Fatalf("50 keys with a TTL of an hour hold %d leases, want 1", len(leases.Leases))
	}
	if _, err := embedded.Client().Revoke(ctx, leases.Leases[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateWithTTL(ctx, "/registry/events/default/after-revoke", []byte("x"), time.Hour); err != nil {
		t.Fatalf("write after its lease was revoked: %v", err)
	}
	ttl, err := embedded.Client().TimeToLive(ctx, mustLeaseOf(t, embedded, "/registry/events/default/after-revoke"))
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(ttl.TTL) * time.Second; got < time.Hour || got > time.Hour+time.Minute+time.Second {
		t.Fatalf("lease TTL %s, want between 1h and 1h1m1s", got)
	}
}

func mustLeaseOf(t *testing.T, e *etcd.Embedded, key string) clientv3.LeaseID {
	t.Helper()
	resp, err := e.Client().Get(t.Context(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v %v", key, resp, err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}
