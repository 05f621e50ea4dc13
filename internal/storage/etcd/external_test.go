package etcd_test

import (
	"testing"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/etcd"
	"github.com/berth/berth/internal/storage/etcd/etcdtest"
	"github.com/berth/berth/internal/storage/storagetest"
)

// TestConformanceExternal runs the suite through NewClient against a separate etcd process,
// the way `berth server --etcd-endpoints` talks to a cluster it does not own.
func TestConformanceExternal(t *testing.T) {
	etcdtest.SkipWithoutBinary(t)
	endpoint := etcdtest.StartExternal(t)
	client, err := etcd.NewClient([]string{endpoint}, "", "", "")
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	storagetest.Run(t, func(t *testing.T) storage.Interface {
		// One process serves every case; the suite gives each case its own prefix.
		store := etcd.New(client, etcd.Options{ProgressInterval: testProgressInterval})
		t.Cleanup(func() { _ = store.Close() })
		return store
	})
}
