package apisemantics

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/berth/berth/test/integration/framework"
)

// externalEtcd is the etcd binary of Debian's etcd-server package (hack/lib.sh installs
// it in CI).
const externalEtcd = "/usr/bin/etcd"

// TestSuiteExternalEtcd runs the representative checks against a server that uses a
// separate etcd process, as `berth server --etcd-endpoints` does. The checks share that
// etcd; each works in a namespace of its own.
func TestSuiteExternalEtcd(t *testing.T) {
	if _, err := os.Stat(externalEtcd); err != nil {
		t.Skipf("no external etcd at %s (apt-get install etcd-server): %v", externalEtcd, err)
	}
	endpoint := startExternalEtcd(t)
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

// startExternalEtcd runs the etcd binary on free loopback ports with a temporary data dir
// and returns its client URL once it answers; t.Cleanup kills it.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	clientURL := "http://" + freeLoopbackAddr(t)
	peerURL := "http://" + freeLoopbackAddr(t)
	var output lockedBuffer
	cmd := exec.Command(externalEtcd,
		"--name", "berth-test",
		"--data-dir", t.TempDir(),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "berth-test="+peerURL,
		"--heartbeat-interval", "10",
		"--election-timeout", "100",
		"--logger", "zap",
		"--log-level", "error",
	)
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", externalEtcd, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("etcd output:\n%s", output.String())
		}
	})

	client, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := client.Get(ctx, "/health-probe")
		cancel()
		if err == nil {
			return clientURL
		}
		select {
		case err := <-exited:
			t.Fatalf("etcd exited before serving: %v\n%s", err, output.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not serving after 30s: %v\n%s", err, output.String())
		}
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago (the etcd
// binary cannot report a kernel-chosen port back).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer listener.Close()
	return fmt.Sprint(listener.Addr())
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
