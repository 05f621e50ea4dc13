package apisemantics

import (
	"testing"

	"github.com/berth/berth/internal/storage/etcd/etcdtest"
	"github.com/berth/berth/test/integration/framework"
)

// TestSuiteExternalEtcd runs the representative checks against a server that uses a
// separate etcd process, as `berth server --etcd-endpoints` does. The checks share that
// etcd; each works in a namespace of its own.
func TestSuiteExternalEtcd(t *testing.T) {
	etcdtest.SkipWithoutBinary(t)
	endpoint := etcdtest.StartExternal(t)
	t.Run("InformerWatchList", func(t *testing.T) {
		testInformerWatchList(t, framework.StartCluster(t, framework.Options{EtcdEndpoints: []string{endpoint}, APIOnly: true}), 2000)
	})
	for _, sc := range suite() {
		if !sc.representative {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			sc.run(t, framework.StartCluster(t, framework.Options{EtcdEndpoints: []string{endpoint}, APIOnly: true}))
		})
	}
}
