package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Config describes one real node.
type Config struct {
	Name   string
	Client kubernetes.Interface
	// Addresses are reported as they are (InternalIP, Hostname).
	Addresses []corev1.NodeAddress
	// Labels are added to the well-known ones (hostname, os, arch).
	Labels map[string]string
	// NodeFSPath and ImageFSPath are paths on the filesystems the agent's data and
	// containerd's images live on (disk pressure, ephemeral-storage capacity).
	NodeFSPath, ImageFSPath string
	// Eviction are the disk pressure thresholds (nil: DefaultThresholds).
	Eviction       *Thresholds
	MaxPods        int    // default 110
	KubeletVersion string // default v1.37.2
	RuntimeVersion string // e.g. "containerd://1.6.20"
	KubeletPort    int32  // daemonEndpoints.kubeletEndpoint; 0 when the agent serves none
	// Health says why the node cannot run pods (runtime or network down); nil: ready.
	Health func(ctx context.Context) error
	// Images lists the runtime's images for status.images.
	Images func(ctx context.Context) ([]corev1.ContainerImage, error)
	// HeartbeatInterval renews the Lease (default 10 s, valid LeaseDuration = 40 s);
	// StatusInterval recomputes the status, posted when it changed or ReportInterval
	// (default 1 min) passed since the last post.
	HeartbeatInterval, LeaseDuration, StatusInterval, ReportInterval time.Duration
	Machine                                                          Machine
	Log                                                              *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" || c.Client == nil {
		return c, errors.New("node: Name and Client are required")
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.KubeletVersion == "" {
		c.KubeletVersion = "v1.37.2"
	}
	if c.NodeFSPath == "" {
		c.NodeFSPath = "/"
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 40 * time.Second
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Node registers and heartbeats one node.
type Node struct {
	cfg  Config
	info Info
	log  *slog.Logger
	// trigger asks the status loop for an early recompute.
	trigger chan struct{}

	mu         sync.Mutex
	node       *corev1.Node // last written or read
	lastPosted time.Time
	lease      *leaseState
}

// New checks cfg; it contacts nothing.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, info: cfg.Machine.Info(), log: cfg.Log.With("node", cfg.Name), trigger: make(chan struct{}, 1)}, nil
}

// Name of the node.
func (n *Node) Name() string { return n.cfg.Name }

// Current is the node as last written or read (nil before Register).
func (n *Node) Current() *corev1.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.node
}

// Allocatable of the node as last posted (resourceFieldRef defaults for limits).
func (n *Node) Allocatable() corev1.ResourceList {
	if cur := n.Current(); cur != nil {
		return cur.Status.Allocatable
	}
	return nil
}

func (n *Node) object() *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:    n.cfg.Name,
		corev1.LabelOSStable:    runtime.GOOS,
		corev1.LabelArchStable:  runtime.GOARCH,
		"beta.kubernetes.io/os": runtime.GOOS, "beta.kubernetes.io/arch": runtime.GOARCH,
	}
	maps.Copy(labels, n.cfg.Labels)
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: n.cfg.Name, Labels: labels,
		Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
	}}
}

// Register creates the Node (or takes over the existing one, adding missing labels),
// posts its status and its first Lease.
func (n *Node) Register(ctx context.Context) (*corev1.Node, error) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	want := n.object()
	node, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = nodes.Get(ctx, n.cfg.Name, metav1.GetOptions{})
		if err == nil && !hasLabels(node.Labels, want.Labels) {
			node = node.DeepCopy()
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			maps.Copy(node.Labels, want.Labels)
			node, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("register node %s: %w", n.cfg.Name, err)
	}
	n.setNode(node)
	if err := n.postStatus(ctx, true); err != nil {
		return nil, err
	}
	if err := n.renewLease(ctx); err != nil {
		return nil, err
	}
	return n.Current(), nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func (n *Node) setNode(node *corev1.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.node = node
}

// readings looks at the machine and the runtime now.
func (n *Node) readings(ctx context.Context) Readings {
	r := Readings{CPUs: runtime.NumCPU()}
	var err error
	if r.Memory, err = n.cfg.Machine.Memory(); err != nil {
		n.log.Warn("read memory", "err", err)
	}
	if r.NodeFS, err = n.cfg.Machine.Filesystem(n.cfg.NodeFSPath); err != nil {
		n.log.Warn("read node filesystem", "err", err)
	}
	if n.cfg.ImageFSPath != "" {
		if r.ImageFS, err = n.cfg.Machine.Filesystem(n.cfg.ImageFSPath); err != nil {
			n.log.Debug("read image filesystem", "err", err)
		}
	}
	if r.PIDs, err = n.cfg.Machine.PIDs(); err != nil {
		n.log.Warn("read pids", "err", err)
	}
	if n.cfg.Health != nil {
		r.RuntimeErr = n.cfg.Health(ctx)
	}
	if n.cfg.Images != nil {
		if r.Images, err = n.cfg.Images(ctx); err != nil {
			n.log.Debug("list images", "err", err)
			if cur := n.Current(); cur != nil {
				r.Images = cur.Status.Images
			}
		}
	}
	return r
}

func (n *Node) thresholds() Thresholds {
	if n.cfg.Eviction != nil {
		return *n.cfg.Eviction
	}
	return DefaultThresholds
}

// postStatus writes the node's status when it changed, ReportInterval passed, or force.
func (n *Node) postStatus(ctx context.Context, force bool) error {
	nodes := n.cfg.Client.CoreV1().Nodes()
	r := n.readings(ctx)
	for attempt := 0; ; attempt++ {
		cur := n.Current()
		status := buildStatus(statusInput{
			readings: r, thresholds: n.thresholds(), maxPods: n.cfg.MaxPods, addresses: n.cfg.Addresses, info: n.info,
			runtimeVersion: n.cfg.RuntimeVersion, kubeletVersion: n.cfg.KubeletVersion, kubeletPort: n.cfg.KubeletPort,
			current: cur.Status, now: metav1.NewTime(time.Now().Truncate(time.Second)),
		})
		n.mu.Lock()
		due := time.Since(n.lastPosted) >= n.cfg.ReportInterval
		n.mu.Unlock()
		if !force && !due && sameStatus(status, cur.Status) {
			return nil
		}
		next := cur.DeepCopy()
		next.Status = status
		updated, err := nodes.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			n.setNode(updated)
			n.mu.Lock()
			n.lastPosted = time.Now()
			n.mu.Unlock()
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == 4 {
			return fmt.Errorf("post status of node %s: %w", n.cfg.Name, err)
		}
		fresh, err := nodes.Get(ctx, n.cfg.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("post status of node %s: %w", n.cfg.Name, err)
		}
		n.setNode(fresh)
	}
}

// Refresh asks the status loop to recompute the status soon (e.g. the runtime's health
// or the pod network changed).
func (n *Node) Refresh() {
	select {
	case n.trigger <- struct{}{}:
	default:
	}
}

// Run renews the Lease every HeartbeatInterval and keeps the status current until ctx
// ends. Failed writes are logged and retried at the next tick.
func (n *Node) Run(ctx context.Context) {
	lease := time.NewTicker(n.cfg.HeartbeatInterval)
	defer lease.Stop()
	status := time.NewTicker(n.cfg.StatusInterval)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			if err := n.renewLease(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("renew lease", "err", err)
			}
		case <-status.C:
			n.syncStatus(ctx)
		case <-n.trigger:
			n.syncStatus(ctx)
		}
	}
}

func (n *Node) syncStatus(ctx context.Context) {
	if err := n.postStatus(ctx, n.statusOverwritten(ctx)); err != nil && ctx.Err() == nil {
		n.log.Warn("post node status", "err", err)
	}
}

// statusOverwritten reports whether someone else (the node lifecycle controller marking
// the node Unknown) changed our conditions since we wrote them; the API's copy is read.
func (n *Node) statusOverwritten(ctx context.Context) bool {
	cur := n.Current()
	if cur == nil {
		return true
	}
	fresh, err := n.cfg.Client.CoreV1().Nodes().Get(ctx, n.cfg.Name, metav1.GetOptions{ResourceVersion: "0"})
	if err != nil {
		return false
	}
	if fresh.ResourceVersion == cur.ResourceVersion {
		return false
	}
	n.setNode(fresh)
	return !apiequality.Semantic.DeepEqual(fresh.Status.Conditions, cur.Status.Conditions)
}

// WaitForPodCIDR watches the node until node IPAM has set spec.podCIDR and returns it.
func (n *Node) WaitForPodCIDR(ctx context.Context) (string, error) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	for {
		node, err := nodes.Get(ctx, n.cfg.Name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("wait for pod CIDR: %w", err)
		}
		n.setNode(node)
		if node.Spec.PodCIDR != "" {
			return node.Spec.PodCIDR, nil
		}
		n.log.Info("waiting for node IPAM to assign a pod CIDR")
		w, err := nodes.Watch(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", n.cfg.Name).String(), ResourceVersion: node.ResourceVersion,
		})
		if err != nil {
			return "", fmt.Errorf("wait for pod CIDR: %w", err)
		}
		cidr, err := podCIDRFrom(ctx, w)
		w.Stop()
		if cidr != "" || err != nil {
			return cidr, err
		}
		// The watch ended (server restart, timeout): look again.
	}
}

func podCIDRFrom(ctx context.Context, w watch.Interface) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return "", nil
			}
			if node, isNode := ev.Object.(*corev1.Node); isNode && node.Spec.PodCIDR != "" {
				return node.Spec.PodCIDR, nil
			}
		}
	}
}

func equalStatus(a, b corev1.NodeStatus) bool { return apiequality.Semantic.DeepEqual(a, b) }
