// Command nodes measures simulated-node scale: for each node count it starts `berth
// server` on a fresh data dir and `berth agent --simulated-nodes N` against it (both as
// subprocesses), and prints the time until every node is Ready with a pod CIDR, the RSS
// of server and agent, and — over a steady-state window in which every node renews its
// Lease every 10 s — their CPU use and whether every Lease stayed fresh.
//
//	go run ./bench/nodes -nodes 1000,5000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berth/berth/bench/proc"
)

var clusterCIDR string

type result struct {
	Nodes               int     `json:"nodes"`
	ReadySeconds        float64 `json:"readySeconds"`        // agent start → all nodes registered and Ready
	RegisterSeconds     float64 `json:"registerSeconds"`     // agent start → all nodes Ready with a podCIDR
	ServerRSSMiB        float64 `json:"serverRSSMiB"`        // after the steady-state window
	ServerPeakRSSMiB    float64 `json:"serverPeakRSSMiB"`    // high-water mark
	AgentRSSMiB         float64 `json:"agentRSSMiB"`         // after the steady-state window
	AgentPeakRSSMiB     float64 `json:"agentPeakRSSMiB"`     // high-water mark
	ServerCPUPercent    float64 `json:"serverCPUPercent"`    // of one core, steady state
	AgentCPUPercent     float64 `json:"agentCPUPercent"`     // of one core, steady state
	StaleLeases         int     `json:"staleLeases"`         // leases older than 2 renew intervals at the end
	MaxLeaseAgeSeconds  float64 `json:"maxLeaseAgeSeconds"`  // oldest renewTime at the end
	NotReadyAtEnd       int     `json:"notReadyAtEnd"`       // nodes not Ready at the end
	SteadyWindowSeconds float64 `json:"steadyWindowSeconds"` // length of the CPU window
	Error               string  `json:"error,omitempty"`
}

func main() {
	var (
		counts, berth string
		window        time.Duration
	)
	flag.StringVar(&clusterCIDR, "cluster-cidr", "10.64.0.0/10", "server --cluster-cidr (the default /16 has room for 256 nodes only)")
	flag.StringVar(&counts, "nodes", "1000,5000", "comma-separated node counts")
	flag.StringVar(&berth, "berth", "", "berth binary (default: build ./cmd/berth into a temp dir)")
	flag.DurationVar(&window, "window", 30*time.Second, "steady-state window for CPU and lease freshness")
	jsonOut := flag.Bool("json", false, "print JSON instead of a table")
	flag.Parse()
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "berth-bench-nodes-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if berth == "" {
		berth = filepath.Join(tmp, "berth")
		build := exec.Command("go", "build", "-o", berth, "./cmd/berth")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as `make build` builds it
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			log.Fatalf("build berth: %v", err)
		}
	}
	var results []result
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		log.Printf("load average before: %s", strings.TrimSpace(string(load)))
	}
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			log.Fatalf("bad node count %q", c)
		}
		res, err := run(ctx, berth, filepath.Join(tmp, fmt.Sprintf("n%d", n)), n, window)
		if err != nil {
			// Keep what was measured (registration may still have finished).
			log.Printf("%d nodes: %v", n, err)
			res.Error = err.Error()
		}
		log.Printf("%d nodes: %+v", n, res)
		results = append(results, res)
	}
	if *jsonOut {
		_ = json.NewEncoder(os.Stdout).Encode(results)
		return
	}
	fmt.Printf("%-6s %8s %10s %12s %12s %12s %12s %9s %9s %7s %9s\n", "nodes", "ready", "+podCIDR", "server RSS", "server peak", "agent RSS", "agent peak", "srv CPU", "agt CPU", "stale", "max age")
	for _, r := range results {
		fmt.Printf("%-6d %7.1fs %9.1fs %9.0f MiB %9.0f MiB %9.0f MiB %9.0f MiB %8.1f%% %8.1f%% %7d %8.1fs\n", r.Nodes, r.ReadySeconds, r.RegisterSeconds,
			r.ServerRSSMiB, r.ServerPeakRSSMiB, r.AgentRSSMiB, r.AgentPeakRSSMiB, r.ServerCPUPercent, r.AgentCPUPercent, r.StaleLeases, r.MaxLeaseAgeSeconds)
	}
}

func run(ctx context.Context, bin, dir string, n int, window time.Duration) (result, error) {
	res := result{Nodes: n, SteadyWindowSeconds: window.Seconds()}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	dataDir := filepath.Join(dir, "data")
	server, cfg, err := startServer(ctx, bin, dataDir)
	if err != nil {
		return res, err
	}
	defer stop(server)
	client := kubernetes.NewForConfigOrDie(cfg)

	agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return res, err
	}
	defer agentLog.Close()
	started := time.Now()
	agent := exec.CommandContext(ctx, bin, "agent", "--simulated-nodes", strconv.Itoa(n),
		"--server", cfg.Host, "--token-file", filepath.Join(dataDir, "node-token"))
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		return res, fmt.Errorf("start agent: %w", err)
	}
	defer stop(agent)
	if err := waitReady(ctx, client, n, false, 15*time.Minute); err != nil {
		return res, fmt.Errorf("%w (agent log: %s)", err, agentLog.Name())
	}
	res.ReadySeconds = time.Since(started).Seconds()
	if err := waitReady(ctx, client, n, true, 15*time.Minute); err != nil {
		return res, fmt.Errorf("%w (agent log: %s)", err, agentLog.Name())
	}
	res.RegisterSeconds = time.Since(started).Seconds()

	serverCPU, agentCPU := cpuSeconds(server.Process.Pid), cpuSeconds(agent.Process.Pid)
	windowStart := time.Now()
	t := time.NewTimer(window)
	<-t.C
	elapsed := time.Since(windowStart).Seconds()
	res.ServerCPUPercent = 100 * (cpuSeconds(server.Process.Pid) - serverCPU) / elapsed
	res.AgentCPUPercent = 100 * (cpuSeconds(agent.Process.Pid) - agentCPU) / elapsed
	res.ServerRSSMiB, res.ServerPeakRSSMiB = rss(server.Process.Pid)
	res.AgentRSSMiB, res.AgentPeakRSSMiB = rss(agent.Process.Pid)

	leases, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, err
	}
	now := time.Now()
	for _, l := range leases.Items {
		if l.Spec.RenewTime == nil {
			res.StaleLeases++
			continue
		}
		age := now.Sub(l.Spec.RenewTime.Time).Seconds()
		res.MaxLeaseAgeSeconds = max(res.MaxLeaseAgeSeconds, age)
		if age > 20 {
			res.StaleLeases++
		}
	}
	res.StaleLeases += n - len(leases.Items)
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return res, err
	}
	for _, node := range nodes.Items {
		if !ready(&node) {
			res.NotReadyAtEnd++
		}
	}
	return res, nil
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitReady polls until n nodes are Ready (and, with cidr, have a pod CIDR).
func waitReady(ctx context.Context, client kubernetes.Interface, n int, cidr bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err == nil {
			done := 0
			for _, node := range list.Items {
				if ready(&node) && (!cidr || node.Spec.PodCIDR != "") {
					done++
				}
			}
			if done == n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("nodes not all Ready with a pod CIDR in time")
		}
		<-tick.C
	}
}

func startServer(ctx context.Context, bin, dataDir string) (*exec.Cmd, *rest.Config, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, bin, "server", "--data-dir", dataDir, "--listen", addr, "--disable-agent",
		"--cluster-cidr", clusterCIDR)
	logFile, err := os.Create(dataDir + ".log")
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "admin.kubeconfig")); err == nil {
			cfg.QPS, cfg.Burst = 1000, 2000
			if _, err := kubernetes.NewForConfigOrDie(cfg).Discovery().ServerVersion(); err == nil {
				return cmd, cfg, nil
			}
		}
		if time.Now().After(deadline) {
			stop(cmd)
			return nil, nil, fmt.Errorf("server not ready after 30 s (log: %s.log)", dataDir)
		}
		<-tick.C
	}
}

func stop(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}

// rss reads the current and peak resident set of a process, in MiB (0 when unreadable).
func rss(pid int) (now, peak float64) {
	m, _ := proc.ReadMemory(pid)
	return float64(m.RSS) / 1024, float64(m.Peak) / 1024
}

// cpuSeconds reads the user+system CPU time of a process (0 when unreadable).
func cpuSeconds(pid int) float64 {
	d, _ := proc.CPUTime(pid)
	return d.Seconds()
}
