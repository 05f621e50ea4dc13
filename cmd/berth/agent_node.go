package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/agent/node"
)

// isSimulated reports whether `berth agent` args ask for simulated nodes; without
// --simulated-nodes the agent runs the real node of this machine.
func isSimulated(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "simulated-nodes" {
			return true
		}
	}
	return false
}

// runNodeAgent runs `berth agent --server URL --token-file F`: this machine as a node,
// with containerd, CNI and pods. SIGINT/SIGTERM stop it (containerd too, unless
// --leave-running).
func runNodeAgent(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("berth agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage of berth agent (this machine as a node):")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nberth agent --simulated-nodes N runs N simulated nodes instead (scale and failure tests);\n'berth agent --simulated-nodes 1 -h' lists their flags.")
	}
	var (
		cfg                                            agent.Config
		tokenFile, caFile, labels, level, evictionHard string
		netns, clusterDNS                              string
		insecure                                       bool
	)
	fs.StringVar(&cfg.Server, "server", "", "URL of the berth API server, e.g. https://10.0.0.1:6443")
	fs.StringVar(&tokenFile, "token-file", "", "file holding the node token (<server data-dir>/node-token); only needed until the node has its own credential")
	fs.StringVar(&caFile, "ca-file", "", "CA certificate to verify the server (default: tls/ca.crt beside the token file when it exists, else the CA stored at an earlier join)")
	fs.BoolVar(&insecure, "insecure-skip-tls-verify", false, "join without verifying the server (the CA it returns is stored and used afterwards)")
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("BERTH_DATA_DIR", defaultDataDir), "node state: containerd under <dir>/containerd, the agent's under <dir>/agent")
	fs.StringVar(&cfg.NodeName, "node-name", "", "node name (default: the host name)")
	fs.StringVar(&cfg.NodeIP, "node-ip", "", "InternalIP of the node (default: the first global IPv4 address)")
	fs.StringVar(&cfg.CgroupRoot, "cgroup-root", "/berth", "cgroup under which pods' cgroups are made in every hierarchy")
	fs.StringVar(&netns, "netns", "", "run containerd and the pods in this network namespace (name under /run/netns or a path)")
	fs.StringVar(&labels, "labels", "", "extra node labels, k=v,k2=v2")
	fs.IntVar(&cfg.MaxPods, "max-pods", 110, "pod capacity of the node")
	fs.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "10.42.0.0/16", "IPv4 range of all pod IPs (the server's --cluster-cidr): pod traffic leaving it is masqueraded")
	fs.Var(&cfg.PodNetwork, "pod-network", "how pods reach other nodes' pods: auto (a route to a node on a subnet of this node, VXLAN to others), host-gw (routes only) or vxlan (all through the tunnel)")
	fs.StringVar(&clusterDNS, "cluster-dns", "10.43.0.10", "DNS server of ClusterFirst pods (comma-separated)")
	fs.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain")
	fs.IntVar(&cfg.StreamingPort, "streaming-port", 10250, "port of the node's streaming endpoint (logs, exec, attach, port-forward for the API server); -1: any free port")
	fs.BoolVar(&cfg.LeaveRunning, "leave-running", false, "on exit leave containerd and the pods running for the next agent")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", 10*time.Second, "Lease renew interval")
	fs.StringVar(&evictionHard, "eviction-hard", "", "disk pressure thresholds as the kubelet's, e.g. nodefs.available<10%,imagefs.available<15% (the defaults); 0% turns one off")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "berth agent: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Server == "" {
		return fail("--server is required")
	}
	var logLevel slog.Level
	if err := logLevel.UnmarshalText([]byte(level)); err != nil {
		return fail("--log-level: %v", err)
	}
	if tokenFile != "" {
		token, err := os.ReadFile(tokenFile)
		if err != nil {
			return fail("read token: %v", err)
		}
		cfg.Token = strings.TrimSpace(string(token))
		if guess := filepath.Join(filepath.Dir(tokenFile), "tls", "ca.crt"); caFile == "" && !insecure && fileExists(guess) {
			caFile = guess
		}
	}
	if caFile != "" {
		ca, err := os.ReadFile(caFile)
		if err != nil {
			return fail("read CA: %v", err)
		}
		cfg.CAPEM = ca
	}
	cfg.Insecure = insecure
	if netns != "" {
		cfg.NetNS = netns
		if !strings.Contains(netns, "/") {
			cfg.NetNS = "/run/netns/" + netns
		}
	}
	var err error
	if evictionHard != "" {
		if cfg.Eviction, err = parseEvictionHard(evictionHard); err != nil {
			return fail("--eviction-hard: %v", err)
		}
	}
	if cfg.Labels, err = parseLabels(labels); err != nil {
		return fail("--labels: %v", err)
	}
	for _, s := range strings.Split(clusterDNS, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.ClusterDNS = append(cfg.ClusterDNS, s)
		}
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	a, err := agent.New(cfg)
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Once start-up is over (registered, containerd up, pod network and proxy rules
	// written, the pod loop relisting — then startupSettle for the first relist's syncs
	// and node status), the binary's start-up pages are dead weight in RSS (startmem.go).
	released := make(chan struct{})
	go func() {
		defer close(released)
		releaseAfterStartup(ctx, startupSettle, func() { logRelease(cfg.Log) }, a.Ready, a.ProxyReady)
	}()
	defer func() { stop(); <-released }()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "berth agent: %v\n", err)
		return 1
	}
	return 0
}

// parseEvictionHard reads the kubelet's --eviction-hard form for the disk thresholds the
// agent applies: nodefs.available<N% and imagefs.available<N% (unnamed ones keep their
// defaults).
func parseEvictionHard(s string) (*node.Thresholds, error) {
	t := node.DefaultThresholds
	for _, item := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(item), "<")
		pct, isPct := strings.CutSuffix(value, "%")
		n, err := strconv.ParseUint(pct, 10, 8)
		if !ok || !isPct || err != nil || n > 100 {
			return nil, fmt.Errorf("%q: want signal<percent%%, e.g. imagefs.available<15%%", item)
		}
		switch name {
		case "nodefs.available":
			t.NodeFSAvailablePct = n
		case "imagefs.available":
			t.ImageFSAvailablePct = n
		default:
			return nil, fmt.Errorf("%q: only nodefs.available and imagefs.available are supported", name)
		}
	}
	return &t, nil
}
