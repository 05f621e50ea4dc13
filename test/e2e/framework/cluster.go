package framework

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/agent/cri"
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
	Node   *Node
	listen string
	opts   ClusterOptions
	t      testing.TB
	log    *slog.Logger
}

// ClusterOptions tune StartCluster.
type ClusterOptions struct {
	// Images are test images (see Image) imported into the node once it is ready.
	Images []string
	// LeaveRunning keeps containerd and the pods running when the server stops (restart
	// tests); cleanup removes them regardless.
	LeaveRunning bool
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
	c := &Cluster{Node: n, listen: "127.0.0.1:0", opts: opts, t: t, log: slog.New(slog.DiscardHandler)}
	if os.Getenv("BERTH_TEST_LOG") != "" {
		c.log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	hostForward := readIPForward(t)
	t.Cleanup(func() { c.cleanup(t, hostForward) })
	run(t, "ip", "netns", "add", n.Name)
	run(t, "ip", "-n", n.Name, "link", "set", "lo", "up")

	c.Start(t)
	if n.CRI, err = cri.New(n.socket(), cri.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range opts.Images {
		n.Import(t, Image(t, ref))
	}
	return c
}

// Start starts the server (again, on the same address and data dir after Stop) and waits
// until its agent is ready and the Node Ready.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := server.Start(ctx, server.Config{
		DataDir: c.Node.DataDir, Listen: c.listen, Log: c.log,
		Agent: agent.Options{
			NodeName: c.Node.Name, NetNS: c.Node.NetNS, CgroupRoot: c.Node.CgroupParent,
			LeaveRunning: c.opts.LeaveRunning, ContainerdStopTimeout: 5 * time.Second, Log: c.log,
		},
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	c.Server = srv
	c.listen = srv.URL[len("https://"):]
	c.Kubeconfig = filepath.Join(c.Node.DataDir, "admin.kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Agent().Ready():
	case <-ctx.Done():
		t.Fatalf("agent not ready after 2 minutes\n%s", tail(filepath.Join(c.Node.DataDir, "containerd", "containerd.log"), 20))
	}
	Eventually(t, time.Minute, "node "+c.Node.Name+" Ready", func() (bool, error) {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
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

// cleanup removes the node's pods over CRI, stops the server, then removes whatever is
// left: processes, mounts, cgroups, the network namespace, the data dir.
func (c *Cluster) cleanup(t testing.TB, hostForward string) {
	n := c.Node
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n.CRI != nil {
		n.removeSandboxes(ctx, t)
		n.CRI.Close()
	}
	c.Stop(t)
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
	if now := readIPForward(t); now != hostForward {
		t.Errorf("cleanup: host ip_forward changed from %s to %s; restoring", hostForward, now)
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(hostForward), 0o644)
	}
}
