package framework

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/agenttest"
	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/images"
	"github.com/berth/berth/internal/images/testimages"
	"github.com/berth/berth/internal/netns"
)

// Node is one e2e node: containerd in its own network namespace.
type Node struct {
	Name         string // also the netns name and the CNI network name
	NetNS        string // /run/netns/<Name>
	DataDir      string
	CgroupParent string // pods' cgroups go below it, in every hierarchy
	PodCIDR      string
	Bridge       string
	// IP is the node's address on the cluster's Link (empty without one).
	IP         string
	Containerd *containerd.Containerd
	CRI        *cri.Client
	// Started says how containerd's start went (Ready is the start-to-ready time).
	Started containerd.StartResult
}

// NodeOptions tune StartNode.
type NodeOptions struct {
	PodCIDR string // default 10.42.0.0/24
	// LeaveRunning is passed to containerd; cleanup stops it regardless.
	LeaveRunning bool
}

// Require skips t unless it runs as root on a machine with containerd, runc, ctr, ip and
// the CNI plugins installed, and not in -short mode.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("e2e: needs root (starts containerd, network namespaces, cgroups); run `sudo go test ./test/e2e/...`")
	}
	missing := agenttest.Missing()
	if len(missing) > 0 {
		t.Skipf("e2e: missing %s; %s", strings.Join(missing, ", "), agenttest.InstallHint)
	}
}

// StartNode makes a network namespace and a data dir, writes the CNI conflist, starts
// containerd in the namespace and connects a CRI client. Everything is undone in t.Cleanup.
func StartNode(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	Require(t)
	if opts.PodCIDR == "" {
		opts.PodCIDR = "10.42.0.0/24"
	}
	id := randomID()
	// Short paths: containerd's socket path must fit in a sockaddr_un.
	dataDir, err := os.MkdirTemp("", "be-")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{
		Name: "berth-e2e-" + id, DataDir: dataDir, CgroupParent: "/berth-e2e-" + id,
		PodCIDR: opts.PodCIDR, Bridge: "berth0",
	}
	n.NetNS = "/run/netns/" + n.Name
	hostForward := readIPForward(t)
	t.Cleanup(func() { n.cleanup(t, hostForward) })

	run(t, "ip", "netns", "add", n.Name)
	run(t, "ip", "-n", n.Name, "link", "set", "lo", "up")
	// ip_forward is per network namespace and 0 in a new one; pods on the bridge need it.
	if err := n.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) }); err != nil {
		t.Fatalf("ip_forward in %s: %v", n.Name, err)
	}

	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("BERTH_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n.Containerd, err = containerd.New(containerd.Options{
		DataDir: dataDir, NetNS: n.NetNS, LeaveRunning: opts.LeaveRunning, Log: logger,
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteBridgeConflist(n.Containerd.Paths().CNIConfDir, n.Name, n.Bridge, n.PodCIDR, filepath.Join(dataDir, "cni", "ipam")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n.Started, err = n.Containerd.Start(ctx)
	if err != nil {
		t.Fatalf("start containerd: %v\n%s", err, tail(n.Containerd.Paths().Log, 30))
	}
	n.CRI, err = cri.New(n.Containerd.Paths().Socket, cri.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// WriteBridgeConflist writes the CNI config the agent uses: bridge (gateway, masquerade,
// hairpin) with host-local IPAM over podCIDR, then portmap. containerd adds the loopback
// network itself.
func WriteBridgeConflist(dir, network, bridge, podCIDR, ipamDir string) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       network,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	raw, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "10-berth.conflist"), raw, 0o644)
}

// socket is the node's containerd socket (an agent's containerd when the node has no
// containerd of its own).
func (n *Node) socket() string { return n.containerdPaths().Socket }

// containerdPaths are the node's containerd's (an agent's when the node has none of its own).
func (n *Node) containerdPaths() containerd.Paths {
	if n.Containerd != nil {
		return n.Containerd.Paths()
	}
	return containerd.PathsFor(n.DataDir, "", "")
}

// Do runs fn on an OS thread inside the node's network namespace (e.g. to dial a pod IP).
// The thread is discarded afterwards.
func (n *Node) Do(fn func() error) error { return netns.Do(n.NetNS, fn) }

// HTTPClient is an HTTP client whose connections are dialed inside the node's network
// namespace (as a process on the node would); net/http dials from arbitrary threads, so
// the dialer enters the namespace itself.
func (n *Node) HTTPClient(timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := n.Do(func() error {
			var err error
			conn, err = (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// HTTPGet fetches url from inside the node's network namespace and returns the body of a
// 200 answer.
func (n *Node) HTTPGet(url string, timeout time.Duration) (string, error) {
	resp, err := n.HTTPClient(timeout).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// Listen opens a TCP listener inside the node's network namespace.
func (n *Node) Listen(address string) (net.Listener, error) {
	var lis net.Listener
	err := n.Do(func() error {
		var err error
		lis, err = net.Listen("tcp", address)
		return err
	})
	return lis, err
}

// Import streams an image into the node's containerd as an OCI archive and returns the
// names it got.
func (n *Node) Import(t testing.TB, built testimages.Built) []string {
	t.Helper()
	return n.ImportArchive(t, built, func(w io.Writer) error { return images.WriteOCIArchive(w, built.Image, built.Ref) })
}

// ImportArchive imports the archive write produces (any format ctr takes) and waits until
// the CRI shows built.
func (n *Node) ImportArchive(t testing.TB, built testimages.Built, write func(io.Writer) error) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names, err := agenttest.ImportArchive(ctx, n.socket(), n.CRI, built, write)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

var (
	imagesOnce  sync.Once
	builtImages map[string]testimages.Built
	imagesErr   error
)

var (
	nginxOnce  sync.Once
	nginxImage testimages.Built
	nginxErr   error
)

// kubeClient is built only by the tests that ask for it: its client-go binary is the
// slowest of the Go builds on a cold build cache.
var (
	kubeClientOnce  sync.Once
	kubeClientImage testimages.Built
	kubeClientErr   error
)

// Image returns a test image (app:0.3.2, app:0.3.3, busybox:1.35, nginx:1.20.1,
// kubeclient:0.1), built once per test binary. nginx downloads Debian packages once into
// the user cache dir; a machine that cannot reach them skips the test.
func Image(t testing.TB, ref string) testimages.Built {
	t.Helper()
	switch ref {
	case testimages.NginxRef:
		nginxOnce.Do(func() { nginxImage, nginxErr = (&testimages.Builder{}).Nginx(context.Background()) })
		if nginxErr != nil {
			t.Skipf("nginx image cannot be built here: %v", nginxErr)
		}
		return nginxImage
	case testimages.KubeClientRef:
		kubeClientOnce.Do(func() {
			kubeClientImage, kubeClientErr = (&testimages.Builder{}).KubeClient(context.Background())
		})
		if kubeClientErr != nil {
			t.Fatalf("build test image %s: %v", ref, kubeClientErr)
		}
		return kubeClientImage
	}
	imagesOnce.Do(func() {
		b := &testimages.Builder{}
		builtImages = map[string]testimages.Built{}
		ctx := context.Background()
		for _, v := range testimages.AppVersions {
			app, err := b.App(ctx, v)
			if err != nil {
				imagesErr = err
				return
			}
			builtImages[app.Ref] = app
		}
		bb, err := b.BusyboxImage()
		if err != nil {
			imagesErr = err
			return
		}
		builtImages[bb.Ref] = bb
	})
	if imagesErr != nil {
		t.Fatalf("build test images: %v", imagesErr)
	}
	built, ok := builtImages[ref]
	if !ok {
		t.Fatalf("no test image %q", ref)
	}
	return built
}

// SandboxConfig is a pod sandbox config as the agent would send it: pod network, own PID
// namespace per container, RuntimeDefault seccomp, a log dir and a cgroup parent.
func (n *Node) SandboxConfig(name string) *runtimeapi.PodSandboxConfig {
	return agenttest.SandboxConfig(n.DataDir, n.CgroupParent, name, randomID())
}

// ContainerConfig is a container config for the sandbox (its log goes to
// <LogDirectory>/<name>/0.log, whose directory it creates).
func ContainerConfig(t testing.TB, sandbox *runtimeapi.PodSandboxConfig, name, image string, command ...string) *runtimeapi.ContainerConfig {
	t.Helper()
	cfg, err := agenttest.ContainerConfig(sandbox, name, image, command...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func tail(path string, lines int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Eventually polls cond every 10 ms until it is true or timeout passes (then fails t).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, lastErr)
		}
		<-tick.C
	}
}

// Figure logs a measured figure in a form bench tooling can grep: "FIGURE <name> <value>".
func Figure(t testing.TB, name string, value any) {
	t.Helper()
	t.Logf("FIGURE %s %v", name, value)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
