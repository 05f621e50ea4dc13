package agent

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/node"
	"github.com/berth/berth/internal/agent/podnet"
	"github.com/berth/berth/internal/agent/pods"
)

// Config is one real node agent.
type Config struct {
	// Server is the API server's URL; Token the node token (<server data-dir>/node-token)
	// used once to obtain the node's own certificate.
	Server, Token string
	// CAPEM verifies the server; empty uses the CA stored at an earlier join, or with
	// Insecure trusts the first answer (the CA it returns is stored and used after).
	CAPEM    []byte
	Insecure bool
	// APITransport, when set, carries the agent's API requests in place of a connection
	// made with a node credential (no join, no token): the agent built into the server
	// calls the server's handler in process, as the node it is given.
	APITransport func(node string) http.RoundTripper
	// DataDir: containerd lives in <DataDir>/containerd (where `berth image` finds it),
	// the agent's own state (credential, CNI config, pods) in <DataDir>/agent.
	DataDir string
	Options
}

// Options are the node-side choices, also settable for the agent built into the server.
type Options struct {
	// NodeName defaults to the host name (lower case).
	NodeName string
	// NodeIP is the InternalIP (default: the first global IPv4 address of the node's
	// network namespace, else 127.0.0.1).
	NodeIP string
	// NetNS runs containerd, and so every pod network, in this network namespace
	// (/run/netns/<name>); e2e tests give each node its own.
	NetNS string
	// CgroupRoot holds the pods' cgroups in every hierarchy (default /berth).
	CgroupRoot string
	// Labels are added to the Node's.
	Labels map[string]string
	// MaxPods is the node's pod capacity (default 110).
	MaxPods int
	// Eviction are the disk pressure thresholds (nil: the kubelet's defaults).
	Eviction *node.Thresholds
	// ClusterCIDR is the pod network of the whole cluster (10.42.0.0/16): pod traffic
	// leaving it is masqueraded, other nodes' parts of it are routed to them.
	ClusterCIDR string
	// PodNetwork is how pods reach other nodes' pods: routes, VXLAN, or each where it
	// fits (podnet.ModeAuto, the default).
	PodNetwork podnet.Mode
	// ClusterDNS and ClusterDomain configure ClusterFirst pods (10.43.0.10, cluster.local);
	// the agent serves the cluster DNS on the first ClusterDNS address, inside the node.
	ClusterDNS    []string
	ClusterDomain string
	// LeaveRunning leaves containerd (and so the pods) running when the agent stops, for
	// the next agent to adopt; otherwise containerd is stopped (pods' shims still outlive
	// it) and ip_forward is restored if the agent turned it on.
	LeaveRunning bool
	// Preload are images imported into containerd whenever it (re)starts.
	Preload []containerd.Image
	// Seams for volumes, probes, hooks and env (nil: the simple built-ins of package pods).
	Volumes   pods.VolumeManager
	NewProber func(pods.Resync) pods.Prober
	Hooks     pods.Hooks
	Env       pods.EnvResolver
	// StreamingPort is where the node serves logs, exec, attach and port-forward to the
	// API server, reported as daemonEndpoints.kubeletEndpoint (0: 10250; negative: any
	// free port).
	StreamingPort int
	// ImageGC tunes image garbage collection (zero values: the kubelet's defaults,
	// 85 % / 80 % of the image filesystem, images kept for 2 min, a pass every 5 min).
	ImageGC ImageGCOptions
	// RelistPeriod (default 1 s) and HeartbeatInterval (default 10 s) tune the loops.
	RelistPeriod, HeartbeatInterval time.Duration
	// ContainerdStopTimeout bounds containerd's graceful stop (default 10 s).
	ContainerdStopTimeout time.Duration
	Log                   *slog.Logger
}

// ImageGCOptions tune image garbage collection.
type ImageGCOptions struct {
	HighThresholdPercent, LowThresholdPercent int
	MinAge, Period                            time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Server == "" {
		return c, errors.New("agent: no server URL")
	}
	if c.DataDir == "" {
		return c, errors.New("agent: no data dir")
	}
	if c.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			return c, err
		}
		c.NodeName = strings.ToLower(host)
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/berth"
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.42.0.0/16"
	}
	if len(c.ClusterDNS) == 0 {
		c.ClusterDNS = []string{"10.43.0.10"}
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// dir is the agent's own state directory.
func (c Config) dir() string { return filepath.Join(c.DataDir, "agent") }
