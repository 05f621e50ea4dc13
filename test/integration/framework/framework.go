// Package framework starts real berth control planes for integration tests: the server
// in-process on embedded etcd in a temp dir, the real kubectl binary, client-go clients.
package framework

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/server"
)

// Cluster is a running control plane.
type Cluster struct {
	Server     *server.Server
	DataDir    string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	cancel     context.CancelFunc
}

// Options tune StartCluster.
type Options struct {
	// DataDir reuses a data dir (restart tests); empty makes a new temp dir.
	DataDir string
	// EtcdEndpoints uses an external etcd; the files, when set, are its TLS CA bundle and
	// client certificate and key (berth server --etcd-cafile/--etcd-certfile/--etcd-keyfile).
	EtcdEndpoints                         []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// Log shows server logs in the test output.
	Log bool
	// Controllers tunes the control loops (e.g. a short NodeMonitorGracePeriod).
	Controllers controller.Options
	// APIOnly runs no controllers and no scheduler: nothing but the test writes objects
	// (e.g. no kube-root-ca.crt appears in new namespaces). Nothing creating the "default"
	// ServiceAccounts either, so the ServiceAccount admission is off too.
	APIOnly bool
	// EventTTL is how long events live (0: the server's default, an hour).
	EventTTL time.Duration
}

// StartCluster starts a server on a free loopback port and stops it in t.Cleanup.
func StartCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	dir := opts.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	logger := slog.New(slog.DiscardHandler)
	if opts.Log || os.Getenv("BERTH_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	klogOnce.Do(func() {
		if os.Getenv("BERTH_TEST_LOG") == "" {
			// client-go's klog output (leader election, reflectors) is noise in tests.
			klog.SetSlogLogger(slog.New(slog.DiscardHandler))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, server.Config{
		DataDir: dir, Listen: "127.0.0.1:0", DisableAgent: true,
		EtcdEndpoints: opts.EtcdEndpoints, EtcdCAFile: opts.EtcdCAFile, EtcdCertFile: opts.EtcdCertFile, EtcdKeyFile: opts.EtcdKeyFile,
		Log: logger, Controllers: opts.Controllers,
		DisableControllers:             opts.APIOnly,
		DisableServiceAccountAdmission: opts.APIOnly,
		EventTTL:                       opts.EventTTL,
	})
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	c := &Cluster{Server: srv, DataDir: dir, Kubeconfig: filepath.Join(dir, "admin.kubeconfig"), cancel: cancel}
	t.Cleanup(func() { c.Stop(t) })
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	c.Config = cfg
	c.Client = kubernetes.NewForConfigOrDie(cfg)
	return c
}

// Stop stops the server (idempotent).
func (c *Cluster) Stop(t testing.TB) {
	if c.Server == nil {
		return
	}
	if err := c.Server.Stop(); err != nil {
		t.Logf("stop server: %v", err)
	}
	c.Server = nil
	c.cancel()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Result is what a kubectl run printed.
type Result struct {
	Stdout, Stderr string
	Err            error
}

// Kubectl runs the real kubectl against the cluster with a 60 s limit.
func (c *Cluster) Kubectl(t testing.TB, args ...string) Result {
	t.Helper()
	return c.KubectlStdin(t, "", args...)
}

// KubectlStdin runs kubectl with stdin.
func (c *Cluster) KubectlStdin(t testing.TB, stdin string, args ...string) Result {
	t.Helper()
	return c.kubectl(t, c.Kubeconfig, stdin, args)
}

// KubectlWith runs kubectl as another user: with kubeconfig (e.g. TokenKubeconfig's).
func (c *Cluster) KubectlWith(t testing.TB, kubeconfig string, args ...string) Result {
	t.Helper()
	return c.kubectl(t, kubeconfig, "", args)
}

// TokenKubeconfig writes a kubeconfig that acts with a bearer token alone (no client
// certificate: with one, the certificate wins, as in kube-apiserver).
func (c *Cluster) TokenKubeconfig(t testing.TB, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token.kubeconfig")
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: berth, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: token, user: {token: %q}}]
contexts: [{name: berth, context: {cluster: berth, user: token, namespace: default}}]
current-context: berth
`, c.Config.Host, filepath.Join(c.DataDir, "tls", "ca.crt"), token)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (c *Cluster) kubectl(t testing.TB, kubeconfig, stdin string, args []string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, KubectlPath(t), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(c.DataDir, "kubecache"), "HOME="+c.DataDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// MustKubectl runs kubectl and fails the test when it exits non-zero.
func (c *Cluster) MustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	r := c.Kubectl(t, args...)
	if r.Err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

var klogOnce sync.Once

var (
	binMu   sync.Mutex
	binOnce = map[string]*builtBinary{}
)

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// binaryPath returns $BERTH_BIN_DIR/<name> (as `make build` leaves it), or builds
// ./cmd/<name> once per test binary into the temp dir.
func binaryPath(t testing.TB, name string) string {
	t.Helper()
	binMu.Lock()
	b := binOnce[name]
	if b == nil {
		b = &builtBinary{}
		binOnce[name] = b
	}
	binMu.Unlock()
	b.once.Do(func() {
		if dir := os.Getenv("BERTH_BIN_DIR"); dir != "" {
			b.path = filepath.Join(dir, name)
			if _, b.err = os.Stat(b.path); b.err == nil {
				return
			}
		}
		out := filepath.Join(os.TempDir(), fmt.Sprintf("berth-test-%s-%d", name, os.Getuid()))
		cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as `make build` builds it
		if o, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", name, err, o)
			return
		}
		b.path, b.err = out, nil
	})
	if b.err != nil {
		t.Fatalf("%v", b.err)
	}
	return b.path
}

// KubectlPath returns the kubectl built by `make build` (BERTH_BIN_DIR), or builds it once.
func KubectlPath(t testing.TB) string { return binaryPath(t, "kubectl") }

// BerthPath returns the berth binary built by `make build` (BERTH_BIN_DIR), or builds it
// once (tests that run the server as a process of its own).
func BerthPath(t testing.TB) string { return binaryPath(t, "berth") }

// FreeLoopbackAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Eventually polls cond until it returns true or the deadline passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// NodeTokenConfig is a client config that acts with the cluster's node token, as a
// joining `berth agent --token-file <data-dir>/node-token` does.
func (c *Cluster) NodeTokenConfig(t testing.TB) *rest.Config {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(c.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	return &rest.Config{
		Host: c.Config.Host, BearerToken: strings.TrimSpace(string(token)),
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(c.DataDir, "tls", "ca.crt")},
	}
}

// StartSimulatedNodes runs simulated nodes against the cluster with the node token until
// the test ends.
func (c *Cluster) StartSimulatedNodes(t testing.TB, cfg simulated.Config) *simulated.Agent {
	t.Helper()
	cfg.RestConfig = c.NodeTokenConfig(t)
	return RunSimulatedNodes(t, cfg)
}

// RunSimulatedNodes runs simulated nodes with cfg (its RestConfig set) until the test ends.
func RunSimulatedNodes(t testing.TB, cfg simulated.Config) *simulated.Agent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	agent, err := simulated.Run(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start simulated nodes: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		<-agent.Done()
	})
	return agent
}

// JWTClaims decodes the claims of a JWT (a service account token) without verifying it.
func JWTClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
