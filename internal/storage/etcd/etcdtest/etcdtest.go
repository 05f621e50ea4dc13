// Package etcdtest starts a separate etcd process (Debian's etcd-server) for tests that
// check berth against an etcd it does not own. Test support only; never used by berth.
package etcdtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/berth/berth/internal/syncbuf"
)

// Binary is the etcd binary of the Debian package etcd-server.
const Binary = "/usr/bin/etcd"

// SkipWithoutBinary skips the test when the etcd binary is not installed.
func SkipWithoutBinary(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("no external etcd at %s (apt-get install etcd-server): %v", Binary, err)
	}
}

// StartExternal runs the etcd binary (Binary) on free loopback ports with a temporary data dir
// and returns its client URL once it answers; t.Cleanup kills it.
func StartExternal(t testing.TB) string {
	t.Helper()
	return Start(t, Options{})
}

// TLS makes the etcd of Start serve clients over TLS only, with client certificates
// signed by CAFile required.
type TLS struct {
	// CAFile signs the server's and the clients' certificates.
	CAFile, ServerCertFile, ServerKeyFile string
	// ClientConfig is what Start's readiness probe dials with (a client certificate the
	// server accepts, and CAFile as roots).
	ClientConfig *tls.Config
}

// Options tune Start.
type Options struct {
	// TLS, when set, serves https with client certificates required.
	TLS *TLS
}

// Start runs the etcd binary (Binary) on free loopback ports with a temporary data dir
// and returns its client URL once it answers a read; t.Cleanup kills it.
func Start(t testing.TB, opts Options) string {
	t.Helper()
	scheme := "http://"
	if opts.TLS != nil {
		scheme = "https://"
	}
	clientURL := scheme + freeLoopbackAddr(t)
	peerURL := "http://" + freeLoopbackAddr(t)
	var output syncbuf.Buffer
	args := []string{
		"--name", "berth-test",
		"--data-dir", t.TempDir(),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "berth-test=" + peerURL,
		"--heartbeat-interval", "10",
		"--election-timeout", "100",
		"--logger", "zap",
		"--log-level", "error",
	}
	clientCfg := clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: time.Second, Logger: zap.NewNop()}
	if opts.TLS != nil {
		args = append(args, "--cert-file", opts.TLS.ServerCertFile, "--key-file", opts.TLS.ServerKeyFile,
			"--trusted-ca-file", opts.TLS.CAFile, "--client-cert-auth")
		clientCfg.TLS = opts.TLS.ClientConfig
	}
	cmd := exec.Command(Binary, args...)
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", Binary, err)
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

	client, err := clientv3.New(clientCfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
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
		case <-deadline:
			t.Fatalf("etcd not serving after 30s: %v\n%s", err, output.String())
		case <-tick.C:
		}
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago. The etcd
// binary cannot take port 0 and report it back, so a small race with other processes
// remains; it shows up as etcd exiting with "address already in use".
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer listener.Close()
	return fmt.Sprint(listener.Addr())
}
