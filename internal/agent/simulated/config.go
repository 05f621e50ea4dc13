package simulated

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
)

// Config describes the simulated nodes of one agent process.
type Config struct {
	// RestConfig reaches the API server (node token or any credential allowed to write
	// nodes, leases, pod status and pod deletes).
	RestConfig *rest.Config
	// Nodes is how many nodes to simulate; names are NamePrefix + index (0-based).
	Nodes      int
	NamePrefix string
	// Capacity of every node (allocatable is the same).
	CPU, Memory, EphemeralStorage resource.Quantity
	MaxPods                       int
	// Zones spreads nodes round-robin over this many topology.kubernetes.io/zone values
	// (zone-a, zone-b, ...); 0 sets no zone label.
	Zones int
	// Labels are added to every node.
	Labels map[string]string
	// KubeletVersion is reported in nodeInfo (default v1.37.2).
	KubeletVersion string
	// NodeIPBase is the first node's InternalIP; node i gets base+i (default 172.16.0.1).
	NodeIPBase netip.Addr

	// HeartbeatInterval is the Lease renew interval (default 10 s); the lease is valid
	// for LeaseDuration (default 40 s).
	HeartbeatInterval time.Duration
	LeaseDuration     time.Duration
	// DeletionDelay simulates containers taking time to stop: a deleted pod goes after
	// min(its grace period, DeletionDelay); default 0 (at once).
	DeletionDelay time.Duration
	// PodWorkers, NodeWorkers and LeaseWorkers size the shared queues' worker pools.
	PodWorkers, NodeWorkers, LeaseWorkers int
	Log                                   *slog.Logger
}

// withDefaults fills unset fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.RestConfig == nil {
		return c, errors.New("simulated: RestConfig is required")
	}
	if c.Nodes < 0 {
		return c, fmt.Errorf("simulated: Nodes must not be negative, got %d", c.Nodes)
	}
	if c.NamePrefix == "" {
		c.NamePrefix = "sim-"
	}
	if c.CPU.IsZero() {
		c.CPU = resource.MustParse("4")
	}
	if c.Memory.IsZero() {
		c.Memory = resource.MustParse("16Gi")
	}
	if c.EphemeralStorage.IsZero() {
		c.EphemeralStorage = resource.MustParse("100Gi")
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.KubeletVersion == "" {
		c.KubeletVersion = "v1.37.2"
	}
	if !c.NodeIPBase.IsValid() {
		c.NodeIPBase = netip.MustParseAddr("172.16.0.1")
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 40 * time.Second
	}
	if c.PodWorkers <= 0 {
		c.PodWorkers = 16
	}
	if c.NodeWorkers <= 0 {
		c.NodeWorkers = 8
	}
	if c.LeaseWorkers <= 0 {
		// Renewals are small and latency-bound: enough in flight to keep up with
		// 5 000 nodes (500 renewals/s) on a server busy enough to answer in 100-200 ms,
		// as the kubelets, each renewing its own, would (32 in flight keep up only while
		// a renewal takes under 64 ms).
		c.LeaseWorkers = 128
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// nodeName returns the name of node i.
func (c Config) nodeName(i int) string { return fmt.Sprintf("%s%d", c.NamePrefix, i) }

// zoneName returns the zone of node i ("" without zones).
func (c Config) zoneName(i int) string {
	if c.Zones <= 0 {
		return ""
	}
	z := i % c.Zones
	if c.Zones <= 26 {
		return "zone-" + string(rune('a'+z))
	}
	return fmt.Sprintf("zone-%d", z)
}

// nodeIP returns the InternalIP of node i.
func (c Config) nodeIP(i int) netip.Addr { return addOffset(c.NodeIPBase, uint64(i)) }
