package apisemantics

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/storage/etcd/etcdtest"
	"github.com/berth/berth/internal/syncbuf"
	"github.com/berth/berth/test/integration/framework"
)

// TestUnreachableEtcd: a server pointed at an etcd it cannot use — nothing listening,
// or a TLS etcd that refuses the client certificate — logs why while it waits and then
// fails to start with an error naming the endpoint and the reason, within its bound.
func TestUnreachableEtcd(t *testing.T) {
	closed := "http://" + framework.FreeLoopbackAddr(t)
	type etcdCase struct {
		name      string
		endpoint  string
		ca        string
		cert, key string
		want      []string
	}
	cases := []etcdCase{{name: "closed port", endpoint: closed, want: []string{closed, "connection refused"}}}
	if _, err := os.Stat(etcdtest.Binary); err == nil {
		pki, other := writeEtcdPKI(t), writeEtcdPKI(t)
		endpoint := startTLSEtcd(t, pki)
		cases = append(cases,
			etcdCase{name: "TLS without client certificate", endpoint: endpoint, ca: pki.ca,
				want: []string{endpoint, "TLS: remote error: tls:"}},
			etcdCase{name: "TLS with a client certificate of another CA", endpoint: endpoint, ca: pki.ca, cert: other.clientCert, key: other.clientKey,
				want: []string{endpoint, "TLS: remote error: tls:"}},
			etcdCase{name: "TLS server not trusted", endpoint: endpoint, ca: other.ca, cert: pki.clientCert, key: pki.clientKey,
				want: []string{endpoint, "TLS handshake", "certificate signed by unknown authority"}},
		)
	} else {
		t.Log("no etcd binary: TLS cases skipped")
	}
	const bound = 2 * time.Second
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			start := time.Now()
			srv, err := server.Start(context.Background(), server.Config{
				DataDir: t.TempDir(), Listen: "127.0.0.1:0", DisableAgent: true, DisableControllers: true,
				EtcdEndpoints: []string{tc.endpoint}, EtcdCAFile: tc.ca, EtcdCertFile: tc.cert, EtcdKeyFile: tc.key,
				StorageInitializationTimeout: bound,
				Log:                          slog.New(slog.NewTextHandler(&logs, nil)),
			})
			took := time.Since(start)
			if err == nil {
				_ = srv.Stop()
				t.Fatal("server started without a usable etcd")
			}
			if took > bound+5*time.Second {
				t.Errorf("gave up after %s, bound %s", took, bound)
			}
			msg := err.Error()
			for _, want := range append([]string{"connect to etcd", "did not answer within 2s"}, tc.want...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if !strings.Contains(logs.String(), "waiting for etcd") || !strings.Contains(logs.String(), tc.want[len(tc.want)-1]) {
				t.Errorf("the wait was not logged with its reason:\n%s", logs.String())
			}
		})
	}

	// The binary exits non-zero with the reason (--storage-initialization-timeout).
	t.Run("berth server exits", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var stderr syncbuf.Buffer
		cmd := exec.CommandContext(ctx, framework.BerthPath(t), "server", "--data-dir", t.TempDir(),
			"--listen", framework.FreeLoopbackAddr(t), "--disable-agent",
			"--etcd-endpoints", closed, "--storage-initialization-timeout", "1s")
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("berth server: %v, want exit status 1\n%s", err, stderr.String())
		}
		if want := "berth server: connect to etcd: " + closed + " did not answer within 1s: dial tcp "; !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	})
}
