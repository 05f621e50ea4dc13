package framework

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/agent/agenttest"
	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/node"
	"github.com/berth/berth/internal/server"
)

// Cluster is `berth server` in-process with its built-in node agent, whose containerd
// and pods live in the node's own network namespace.
type Cluster struct {
	Server     *server.Server
	Client     kubernetes.Interface
	Kubeconfig string
	// Node is the agent's node: Name, NetNS, DataDir, CgroupParent (the agent's cgroup
	// root) and a CRI client to the agent's containerd.
	Node *Node
	// Nodes are all the nodes: Nodes[0] is Node, the others run agents of their own in
	// this process (ClusterOptions.Nodes).
	Nodes []*Node
	// Link is the network the nodes share (nil for a cluster of one node).
	Link    *Link
	workers []*worker
	listen  string
	// forwarder relays pods' API connections (ClusterOptions.InClusterAPI).
	forwarder *apiForwarder
	// Opts may be changed between Stop/Start (or StopAgent/StartAgent).
	Opts  ClusterOptions
	agent *exec.Cmd
	t     testing.TB
	log   *slog.Logger
}

// ClusterOptions tune StartCluster.
type ClusterOptions struct {
	// Images are test images (see Image) imported into the node once it is ready.
	Images []string
	// LeaveRunning keeps containerd and the pods running when the agent stops (restart
	// tests); cleanup removes them regardless.
	LeaveRunning bool
	// ExternalAgent runs the node agent as its own process (`berth agent`, the binary
	// from AgentBinary) instead of inside the server: agent restarts and its RSS.
	ExternalAgent bool
	// Agent, if set, adjusts every node agent's options.
	Agent func(*agent.Options)
	// Nodes is how many nodes the cluster has (default 1). With two or more, every node
	// gets an eth0 on a shared Link and its address there as InternalIP.
	Nodes int
	// Routed puts every node on a subnet of its own behind a router (Link.Routed), so
	// that no two nodes share an L2 segment: pods reach other nodes' pods through VXLAN.
	Routed bool
	// InClusterAPI makes the API server reachable from the first node's pods through the
	// kubernetes Service (https://10.43.0.1:443), as a server listening on its node's
	// address is: the server advertises InClusterAPIAddress, an address of the node's
	// namespace where a relay to the server's loopback listener accepts connections.
	InClusterAPI bool
}

// worker is a node whose agent runs in this process beside the server's.
type worker struct {
	node   *Node
	cancel context.CancelFunc
	done   chan error
}

var klogQuiet sync.Once

// StartCluster makes a network namespace, starts a server with its agent inside it
// (containerd, CNI and pods in the namespace; the API on the host's loopback), waits
// until the node is Ready, and imports the images. Everything is undone in t.Cleanup.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	Require(t)
	klogQuiet.Do(func() {
		if os.Getenv("BERTH_TEST_LOG") == "" {
			klog.SetSlogLogger(slog.New(slog.DiscardHandler))
		}
	})
	id := randomID()
	dataDir, err := os.MkdirTemp("", "bc-")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{Name: "berth-e2e-" + id, DataDir: dataDir, CgroupParent: "/berth-e2e-" + id, Bridge: "cni0"}
	n.NetNS = "/run/netns/" + n.Name
	c := &Cluster{Node: n, listen: "127.0.0.1:0", Opts: opts, t: t, log: slog.New(slog.DiscardHandler)}
	if os.Getenv("BERTH_TEST_LOG") != "" {
		c.log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	hostForward := readIPForward(t)
	c.Nodes = []*Node{n}
	t.Cleanup(func() { c.cleanup(t, hostForward) })
	run(t, "ip", "netns", "add", n.Name)
	run(t, "ip", "-n", n.Name, "link", "set", "lo", "up")
	if opts.InClusterAPI {
		// On lo: a local address that packets from the pods' bridge reach (this kernel has
		// no dummy interfaces).
		run(t, "ip", "-n", n.Name, "addr", "add", InClusterAPIAddress+"/32", "dev", "lo")
	}
	if opts.Nodes > 1 {
		c.Link = newLink(t, id, opts.Routed)
		n.IP = c.Link.attach(t, n)
	}

	c.Start(t)
	if n.CRI, err = cri.New(n.socket(), cri.Options{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < opts.Nodes; i++ {
		c.startWorker(t, i)
	}
	for _, n := range c.Nodes {
		for _, ref := range opts.Images {
			n.Import(t, Image(t, ref))
		}
	}
	return c
}

// startWorker makes node i (its namespace on the link, a data dir, cgroups) and runs
// an agent for it in this process, joining with the node token; it waits until the
// node is Ready.
func (c *Cluster) startWorker(t testing.TB, i int) {
	t.Helper()
	dataDir, err := os.MkdirTemp("", "bc-")
	if err != nil {
		t.Fatal(err)
	}
	id := randomID()
	n := &Node{Name: fmt.Sprintf("berth-e2e-%s-%d", id, i), DataDir: dataDir, CgroupParent: "/berth-e2e-" + id, Bridge: "cni0"}
	n.NetNS = "/run/netns/" + n.Name
	w := &worker{node: n, done: make(chan error, 1)}
	c.workers = append(c.workers, w)
	c.Nodes = append(c.Nodes, n)
	run(t, "ip", "netns", "add", n.Name)
	run(t, "ip", "-n", n.Name, "link", "set", "lo", "up")
	n.IP = c.Link.attach(t, n)
	opts := agent.Options{
		NodeName: n.Name, NetNS: n.NetNS, CgroupRoot: n.CgroupParent, ContainerdStopTimeout: 5 * time.Second,
		Log: c.log.With("node", n.Name), StreamingPort: -1, Eviction: noDiskEviction,
	}
	if c.Opts.Agent != nil {
		c.Opts.Agent(&opts)
	}
	token, err := os.ReadFile(filepath.Join(c.Node.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		Server: c.Server.URL, Token: strings.TrimSpace(string(token)), CAPEM: c.Server.Loopback.CAData, DataDir: dataDir,
		Options: opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-w.done:
		w.done <- err
		t.Fatalf("agent of %s stopped: %v\n%s", n.Name, err, tail(filepath.Join(dataDir, "containerd", "containerd.log"), 20))
	case <-time.After(2 * time.Minute):
		t.Fatalf("agent of %s not ready after 2 minutes", n.Name)
	}
	if n.CRI, err = cri.New(n.socket(), cri.Options{}); err != nil {
		t.Fatal(err)
	}
	c.waitReady(t, n.Name)
}

// NodeNamed is the cluster's node of that name (nil if none).
func (c *Cluster) NodeNamed(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// StopWorkers stops the in-process agents of the nodes after the first, each as a
// clean stop would (their containerd and pods stop too).
func (c *Cluster) StopWorkers(t testing.TB) {
	for _, w := range c.workers {
		if w.cancel == nil {
			continue
		}
		w.cancel()
		w.cancel = nil
		if err := <-w.done; err != nil {
			t.Errorf("agent of %s: %v", w.node.Name, err)
		}
	}
}

// Start starts the server (again, on the same address and data dir after Stop) and waits
// until its agent is ready and the Node Ready.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := agent.Options{
		NodeName: c.Node.Name, NetNS: c.Node.NetNS, CgroupRoot: c.Node.CgroupParent,
		LeaveRunning: c.Opts.LeaveRunning, ContainerdStopTimeout: 5 * time.Second, Log: c.log,
		StreamingPort: -1, // any free port: e2e nodes share the host's network namespace for it
		Eviction:      noDiskEviction,
	}
	if c.Opts.Agent != nil {
		c.Opts.Agent(&opts)
	}
	scfg := server.Config{
		DataDir: c.Node.DataDir, Listen: c.listen, Log: c.log, DisableAgent: c.Opts.ExternalAgent, Agent: opts,
	}
	if c.Opts.InClusterAPI {
		scfg.AdvertiseAddress = InClusterAPIAddress
	}
	srv, err := server.Start(ctx, scfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	c.Server = srv
	c.listen = srv.URL[len("https://"):]
	if c.Opts.InClusterAPI {
		_, port, _ := net.SplitHostPort(c.listen)
		c.forwarder = startAPIForwarder(t, c.Node.NetNS, net.JoinHostPort(InClusterAPIAddress, port), c.listen)
	}
	c.Kubeconfig = filepath.Join(c.Node.DataDir, "admin.kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if c.Opts.ExternalAgent {
		c.StartAgent(t)
	} else {
		select {
		case <-srv.Agent().Ready():
		case <-ctx.Done():
			t.Fatalf("agent not ready after 2 minutes\n%s", tail(filepath.Join(c.Node.DataDir, "containerd", "containerd.log"), 20))
		}
	}
	c.waitReady(t, c.Node.Name)
}

// waitReady waits for the Node's Ready condition.
func (c *Cluster) waitReady(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	Eventually(t, time.Minute, "node "+name+" Ready", func() (bool, error) {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if n := c.NodeNamed(name); n != nil {
			n.PodCIDR = node.Spec.PodCIDR
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// Stop stops the server and its agent (which leaves containerd running with
// LeaveRunning).
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.StopAgent(t)
	if c.forwarder != nil {
		if err := c.forwarder.Close(); err != nil {
			t.Errorf("stop the API forwarder: %v", err)
		}
		c.forwarder = nil
	}
	if c.Server == nil {
		return
	}
	if err := c.Server.Stop(); err != nil {
		t.Errorf("stop server: %v", err)
	}
	c.Server = nil
}

// Reboot kills containerd, every shim and every container process of the node at once,
// as a power cut would; the agent's supervisor starts containerd again.
func (c *Cluster) Reboot(t testing.TB) {
	t.Helper()
	killLeftovers(t, filepath.Join(c.Node.DataDir, "containerd"), c.Node.CgroupParent)
}

// cleanup removes the nodes' pods over CRI, stops the server and the other agents,
// then removes whatever is left: processes, mounts, cgroups, the network namespaces, the
// data dirs.
// noDiskEviction turns the disk pressure checks off, as kind does for CI: the nodes share
// the host's disk, and a host with less than 15 % of it free would taint every node
// (DiskPressure) and leave every test's pods Pending.
var noDiskEviction = &node.Thresholds{}

func (c *Cluster) cleanup(t testing.TB, hostForward string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// An agent would recreate sandboxes of pods the API still has: stop them first,
	// then remove the sandboxes through a containerd of our own (CNI DEL frees the IPs
	// and libcni's cache entries under /var/lib/cni on the host).
	c.StopWorkers(t)
	c.Stop(t)
	for _, n := range c.Nodes {
		if n.CRI != nil {
			n.CRI.Close()
		}
		removeAgentSandboxes(ctx, t, n)
		killPIDFile(t, filepath.Join(n.DataDir, "containerd", "containerd.pid"))
		killLeftovers(t, n.DataDir, n.CgroupParent)
		unmountUnder(t, n.DataDir)
		removeCgroups(t, n.CgroupParent)
		if _, err := os.Stat(n.NetNS); err == nil {
			if out, err := exec.Command("ip", "netns", "delete", n.Name).CombinedOutput(); err != nil {
				t.Errorf("cleanup: ip netns delete %s: %v: %s", n.Name, err, out)
			}
		}
		if err := os.RemoveAll(n.DataDir); err != nil {
			t.Errorf("cleanup: remove %s: %v", n.DataDir, err)
		}
	}
	if now := readIPForward(t); now != hostForward {
		t.Errorf("cleanup: host ip_forward changed from %s to %s; restoring", hostForward, now)
		_ = agenttest.SetIPForward(hostForward)
	}
}

// removeAgentSandboxes starts (or adopts) the node's containerd with its agent's CNI
// config and removes every sandbox.
func removeAgentSandboxes(ctx context.Context, t testing.TB, n *Node) {
	if err := agenttest.RemoveAgentSandboxes(ctx, n.DataDir, n.NetNS); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// StartAgent starts `berth agent` for the node (ExternalAgent clusters) and waits until it
// has renewed the node's Lease.
func (c *Cluster) StartAgent(t testing.TB) {
	t.Helper()
	n := c.Node
	args := []string{"agent", "--server", c.Server.URL, "--token-file", filepath.Join(n.DataDir, "node-token"),
		"--data-dir", n.DataDir, "--node-name", n.Name, "--netns", n.NetNS, "--cgroup-root", n.CgroupParent, "--log-level", "debug", "--streaming-port", "-1",
		"--eviction-hard", "nodefs.available<0%,imagefs.available<0%"}
	if c.Opts.LeaveRunning {
		args = append(args, "--leave-running")
	}
	logFile, err := os.OpenFile(filepath.Join(n.DataDir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	started := time.Now()
	cmd := exec.Command(BerthBinary(t), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.agent = cmd
	Eventually(t, 2*time.Minute, "agent renews the node's lease", func() (bool, error) {
		lease, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(started), nil
	})
}

// StopAgent stops the external agent with SIGTERM (SIGKILL after a minute).
func (c *Cluster) StopAgent(t testing.TB) {
	t.Helper()
	if c.agent == nil {
		return
	}
	cmd := c.agent
	c.agent = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("agent exited: %v\n%s", err, tail(filepath.Join(c.Node.DataDir, "agent.log"), 30))
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("agent did not stop within a minute of SIGTERM")
	}
}

// AgentPID is the external agent's process ID (0 for a built-in agent).
func (c *Cluster) AgentPID() int {
	if c.agent == nil {
		return 0
	}
	return c.agent.Process.Pid
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// BerthBinary is $BERTH_BIN_DIR/berth (as `make test` sets it), else berth built once
// per test binary into the user cache dir.
func BerthBinary(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("BERTH_BIN_DIR"); dir != "" {
		return filepath.Join(dir, "berth")
	}
	binaryOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			binaryErr = err
			return
		}
		dir := filepath.Join(cache, "berth-e2e")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "berth")
		build := exec.Command("go", "build", "-o", binaryPath, "github.com/berth/berth/cmd/berth")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as `make build` builds it
		out, err := build.CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}
