// Command berth is the single binary of the berth orchestrator: `berth server`,
// `berth kubectl`, `berth --version`. It parses flags and hands off; nothing else.
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

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/klog/v2"

	"github.com/berth/berth/internal/server"
)

// Set by the build (-ldflags -X).
var (
	berthVersion      = "v0.1.0-dev"
	kubernetesVersion = "v1.37.2"
)

const defaultDataDir = "/var/lib/berth"

// startupSettle is how long after readiness the start-up pages are released.
const startupSettle = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "server" || args[0] == "agent" {
		heapProfileOff()
		if _, err := servePprof(stderr); err != nil {
			fmt.Fprintf(stderr, "berth: %v\n", err)
			return 2
		}
	}
	switch args[0] {
	case "--version", "-version", "version":
		fmt.Fprintf(stdout, "berth %s (Kubernetes %s)\n", berthVersion, kubernetesVersion)
		return 0
	case "server":
		return runServer(args[1:], stderr)
	case "kubectl":
		return runKubectl(args[1:], stderr)
	case "agent":
		if !isSimulated(args[1:]) {
			agentGC()
			agentProcs()
		}
		return runAgent(args[1:], stderr)
	case "image":
		return runImage(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "berth: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `berth — a small, fast Kubernetes-compatible orchestrator

Usage:
  berth server [flags]    run the API server, controllers and (unless --disable-agent) a node agent
  berth kubectl [args]    run kubectl against the local cluster (<data-dir>/admin.kubeconfig)
  berth agent --server URL --token-file F
                          run this machine as a node: containerd, CNI and pods
  berth agent --simulated-nodes N --server URL --token-file F
                          run N simulated nodes against a server (scale and failure tests)
  berth image import|ls   load image archives into / list images of the node's containerd
  berth --version         print the version

Run 'berth server -h' for server flags.
`)
}

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

func runServer(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("berth server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	var endpoints stringList
	var logLevel string
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir, "directory for cluster state, credentials and etcd data")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:6443", "address the HTTPS API listens on")
	fs.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "IP pods reach the API at through the kubernetes Service (default: the --listen address if it is a specific non-loopback one; with 0.0.0.0, the default route's interface address; with a loopback one, pods cannot reach the API)")
	fs.BoolVar(&cfg.DisableAgent, "disable-agent", false, "do not run a node agent in the server process")
	fs.Var(&endpoints, "etcd-endpoints", "comma-separated URLs of an external etcd cluster (default: embedded etcd)")
	fs.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA bundle to verify the external etcd's certificates")
	fs.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for the external etcd")
	fs.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for the external etcd")
	fs.DurationVar(&cfg.StorageInitializationTimeout, "storage-initialization-timeout", server.DefaultStorageInitializationTimeout, "how long start-up waits for the external etcd to answer before it gives up (kube-apiserver's --storage-initialization-timeout)")
	fs.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.43.0.0/16", "IPv4 range of service cluster IPs")
	fs.StringVar(&cfg.Controllers.ClusterCIDR, "cluster-cidr", "10.42.0.0/16", "IPv4 range of pod IPs, split into one block per node")
	fs.Var(&cfg.Agent.PodNetwork, "pod-network", "how the built-in agent's pods reach other nodes' pods: auto, host-gw or vxlan (see berth agent -h)")
	fs.IntVar(&cfg.Controllers.NodeCIDRMaskSize, "node-cidr-mask-size", 24, "prefix length of each node's block of the cluster CIDR")
	fs.DurationVar(&cfg.EventTTL, "event-ttl", server.DefaultEventTTL, "how long events are kept after their last change (kube-apiserver's --event-ttl)")
	fs.DurationVar(&cfg.Controllers.NodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "a node whose Lease is not renewed for this long becomes NotReady (Unknown)")
	var nodePorts string
	fs.StringVar(&nodePorts, "service-node-port-range", "30000-32767", "port range reserved for NodePort services")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "berth server: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.EventTTL <= 0 {
		fmt.Fprintf(stderr, "berth server: --event-ttl must be positive, not %s\n", cfg.EventTTL)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintf(stderr, "berth server: --log-level: %v\n", err)
		return 2
	}
	if (cfg.EtcdCertFile == "") != (cfg.EtcdKeyFile == "") {
		fmt.Fprintln(stderr, "berth server: --etcd-certfile and --etcd-keyfile must be given together")
		return 2
	}
	base, count, err := parsePortRange(nodePorts)
	if err != nil {
		fmt.Fprintf(stderr, "berth server: --service-node-port-range: %v\n", err)
		return 2
	}
	cfg.NodePortBase, cfg.NodePortCount = base, count
	cfg.EtcdEndpoints = endpoints
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// client-go logs through klog; send it to the same place, at the same level.
	klog.SetSlogLogger(cfg.Log)
	cfg.Version = apiVersion()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ready := make(chan struct{})
	cfg.Ready = ready
	// Start-up work (etcd recovery, informer syncs, controllers' first syncs, OpenAPI on
	// first use, the built-in agent's start) is over well within startupSettle after
	// ready; after it the binary's start-up pages are dead weight (startmem.go).
	released := make(chan struct{})
	go func() {
		defer close(released)
		releaseAfterStartup(ctx, startupSettle, func() { logRelease(cfg.Log) },
			func() <-chan struct{} { return ready })
	}()
	defer func() { stop(); <-released }()
	if err := server.Run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "berth server: %v\n", err)
		return 1
	}
	return 0
}

// parsePortRange reads "30000-32767" into a base and a count.
func parsePortRange(s string) (base, count int, err error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want FROM-TO, e.g. 30000-32767", s)
	}
	from, err1 := strconv.Atoi(strings.TrimSpace(lo))
	to, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || from < 1 || to > 65535 || to < from {
		return 0, 0, fmt.Errorf("%q: want FROM-TO with 1 <= FROM <= TO <= 65535", s)
	}
	return from, to - from + 1, nil
}

func apiVersion() version.Info {
	v := strings.TrimPrefix(kubernetesVersion, "v")
	parts := strings.SplitN(v, ".", 3)
	info := version.Info{GitVersion: kubernetesVersion + "+berth", GitCommit: berthVersion, GoVersion: goVersion(), Platform: platform()}
	if len(parts) >= 2 {
		info.Major, info.Minor = parts[0], parts[1]
	}
	return info
}

// runKubectl replaces this process with the real kubectl built beside berth, pointing it
// at the local cluster unless the user chose a kubeconfig.
func runKubectl(args []string, stderr io.Writer) int {
	bin, err := kubectlPath()
	if err != nil {
		fmt.Fprintf(stderr, "berth kubectl: %v\n", err)
		return 1
	}
	argv := append([]string{"kubectl"}, args...)
	if os.Getenv("KUBECONFIG") == "" && !hasKubeconfigFlag(args) {
		dataDir := os.Getenv("BERTH_DATA_DIR")
		if dataDir == "" {
			dataDir = defaultDataDir
		}
		argv = append([]string{"kubectl", "--kubeconfig", filepath.Join(dataDir, "admin.kubeconfig")}, args...)
	}
	if err := syscall.Exec(bin, argv, os.Environ()); err != nil {
		fmt.Fprintf(stderr, "berth kubectl: exec %s: %v\n", bin, err)
	}
	return 1
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return true
		}
	}
	return false
}

// kubectlPath finds the kubectl built with berth: beside the berth executable first.
func kubectlPath() (string, error) {
	self, err := os.Executable()
	if err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		for _, name := range []string{"kubectl", "berth-kubectl"} {
			p := filepath.Join(filepath.Dir(self), name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", errors.New("kubectl not found beside the berth binary (build it with `make build`)")
}
