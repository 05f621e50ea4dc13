// Package podnet is a node's share of the cluster network beyond its pod bridge:
//
//   - a route to every other node's pod CIDR through that node's InternalIP (the nodes
//     share a link, as with flannel's host-gw), so that pods reach pods on other nodes
//     by their own addresses, without NAT;
//   - masquerade for pod traffic that leaves the cluster network (table `ip berth-net`),
//     and only for that: a pod on another node sees the client pod's address;
//   - bridged pod-to-pod traffic through netfilter (bridge-nf-call-iptables), which
//     service DNAT between two pods of one bridge needs;
//   - addresses the node answers itself (the cluster DNS service IP), on the loopback
//     device, so every pod and the node reach them without leaving the node.
//
// Routes carry their own protocol number (RouteProtocol), so the agent finds and removes
// exactly its own. Close removes the table, the routes and the addresses (unless asked to
// leave them for the next agent).
//
// Nodes whose InternalIP is not on a link of this node are reported, not routed: the
// kernels berth runs on here have no VXLAN (nor dummy) devices, so there is no overlay.
package podnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/netns"
)

// TableName is the nftables table (family ip) of the node's masquerade rule.
const TableName = "berth-net"

// RouteProtocol marks the routes podnet writes (`ip route show proto 98`).
const RouteProtocol = "98"

// Config is one node's network.
type Config struct {
	NodeName string
	// NetNS is the node's network namespace (/run/netns/<name>); empty: the agent's own.
	NetNS string
	// ClusterCIDR is the pod network of the whole cluster (10.42.0.0/16); PodCIDR this
	// node's part of it.
	ClusterCIDR, PodCIDR string
	// LocalIPs are put on the loopback device (e.g. the cluster DNS service IP).
	LocalIPs []string
	// Nodes is a Node informer; Run routes to every other node in it.
	Nodes cache.SharedIndexInformer
	// NFT is the table (nil: the real one in NetNS).
	NFT knftables.Interface
	Log *slog.Logger
}

// Network keeps the node's routes, masquerade rule and local addresses.
type Network struct {
	cfg     Config
	log     *slog.Logger
	cluster netip.Prefix
	pod     netip.Prefix
	local   []netip.Addr
	nodes   corelisters.NodeLister
	queue   workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg; Setup and Run do the work.
func New(cfg Config) (*Network, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	n := &Network{cfg: cfg, log: cfg.Log.With("component", "podnet")}
	var err error
	if n.cluster, err = parseV4Prefix("cluster CIDR", cfg.ClusterCIDR); err != nil {
		return nil, err
	}
	if n.pod, err = parseV4Prefix("pod CIDR", cfg.PodCIDR); err != nil {
		return nil, err
	}
	if !n.cluster.Contains(n.pod.Addr()) {
		return nil, fmt.Errorf("podnet: pod CIDR %s is outside the cluster CIDR %s", n.pod, n.cluster)
	}
	for _, ip := range cfg.LocalIPs {
		addr, err := netip.ParseAddr(ip)
		if err != nil || !addr.Is4() {
			return nil, fmt.Errorf("podnet: local IP %q is not an IPv4 address", ip)
		}
		n.local = append(n.local, addr)
	}
	if n.cfg.NFT == nil {
		if n.cfg.NFT, err = netns.NFTables(cfg.NetNS, knftables.IPv4Family, TableName); err != nil {
			return nil, fmt.Errorf("podnet: %w", err)
		}
	}
	if cfg.Nodes != nil {
		n.nodes = corelisters.NewNodeLister(cfg.Nodes.GetIndexer())
		n.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "podnet"})
		enqueue := func(any) { n.queue.Add("routes") }
		if _, err := cfg.Nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
		}); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func parseV4Prefix(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("podnet: %s %q is not an IPv4 CIDR", what, s)
	}
	return p.Masked(), nil
}

// Setup writes the masquerade table, turns bridged traffic through netfilter and puts
// the local addresses on the loopback device. It is idempotent.
func (n *Network) Setup(ctx context.Context) error {
	if err := n.writeTable(ctx); err != nil {
		return err
	}
	if err := netns.Do(n.cfg.NetNS, func() error { return bridgeNetfilter(n.log) }); err != nil {
		return err
	}
	for _, ip := range n.local {
		if err := n.ip("addr", "replace", ip.String()+"/32", "dev", "lo"); err != nil {
			return err
		}
	}
	if err := n.ip("link", "set", "lo", "up"); err != nil {
		return err
	}
	n.log.Info("pod network set up", "clusterCIDR", n.cluster, "podCIDR", n.pod, "localIPs", n.local)
	return nil
}

// writeTable (re)writes the masquerade table in one transaction.
func (n *Network) writeTable(ctx context.Context) error {
	tx := n.cfg.NFT.NewTransaction()
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("berth: masquerade of pod traffic leaving the cluster network")})
	tx.Flush(&knftables.Table{})
	tx.Add(&knftables.Chain{
		Name: "postrouting", Type: knftables.PtrTo(knftables.NATType),
		Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority),
	})
	tx.Add(&knftables.Rule{
		Chain: "postrouting",
		Rule:  knftables.Concat("ip saddr", n.pod.String(), "ip daddr !=", n.cluster.String(), "masquerade fully-random"),
	})
	if err := n.cfg.NFT.Run(ctx, tx); err != nil {
		return fmt.Errorf("podnet: write table %s: %w", TableName, err)
	}
	return nil
}

// bridgeNetfilter sends bridged IPv4 traffic through the ip hooks; without the
// br_netfilter module (no /proc/sys/net/bridge) it tries to load it, and else warns:
// services then fail between two pods of one node.
func bridgeNetfilter(log *slog.Logger) error {
	const sysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(sysctl); errors.Is(err, os.ErrNotExist) {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			log.Warn("br_netfilter unavailable: a Service whose client and endpoint share this node's bridge will not answer",
				"err", err, "out", strings.TrimSpace(string(out)))
			return nil
		}
	}
	if err := os.WriteFile(sysctl, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("podnet: %s: %w", sysctl, err)
	}
	return nil
}

// Run routes to the other nodes' pod CIDRs until ctx ends. The Nodes informer must be
// started by the caller.
func (n *Network) Run(ctx context.Context) error {
	if n.queue == nil {
		<-ctx.Done()
		return nil
	}
	stop := context.AfterFunc(ctx, n.queue.ShutDown)
	defer stop()
	defer n.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), n.cfg.Nodes.HasSynced) {
		return nil
	}
	n.queue.Add("routes")
	for {
		key, quit := n.queue.Get()
		if quit {
			return nil
		}
		if err := n.syncRoutes(ctx); err != nil {
			n.log.Error("route sync failed, retrying", "err", err)
			n.queue.AddRateLimited(key)
		} else {
			n.queue.Forget(key)
		}
		n.queue.Done(key)
	}
}

// Route is one route podnet keeps: Dst (a node's pod CIDR) via Gateway (its IP).
type Route struct {
	Dst, Gateway, Node string
}

// DesiredRoutes lists a route for every other node with a pod CIDR inside the cluster
// CIDR and an InternalIP (sorted by destination).
func DesiredRoutes(self string, cluster netip.Prefix, nodes []*corev1.Node) []Route {
	var out []Route
	for _, node := range nodes {
		if node.Name == self || node.Spec.PodCIDR == "" {
			continue
		}
		dst, err := netip.ParsePrefix(node.Spec.PodCIDR)
		if err != nil || !dst.Addr().Is4() || !cluster.Contains(dst.Addr()) {
			continue
		}
		gw := internalIP(node)
		if !gw.IsValid() || gw.IsLoopback() || cluster.Contains(gw) {
			continue
		}
		out = append(out, Route{Dst: dst.Masked().String(), Gateway: gw.String(), Node: node.Name})
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Dst, b.Dst) })
	return out
}

func internalIP(node *corev1.Node) netip.Addr {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// syncRoutes makes this node's routes (protocol RouteProtocol) the desired ones.
func (n *Network) syncRoutes(ctx context.Context) error {
	nodes, err := n.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	want := DesiredRoutes(n.cfg.NodeName, n.cluster, nodes)
	have, err := n.routes()
	if err != nil {
		return err
	}
	var errs []error
	wanted := map[string]bool{}
	for _, r := range want {
		wanted[r.Dst] = true
		if have[r.Dst] == r.Gateway {
			continue
		}
		if err := n.ip("route", "replace", r.Dst, "via", r.Gateway, "proto", RouteProtocol); err != nil {
			// A gateway off this node's links needs an overlay, which berth does not have.
			errs = append(errs, fmt.Errorf("route to node %s's pods: %w", r.Node, err))
			continue
		}
		n.log.Info("route to a node's pods", "node", r.Node, "podCIDR", r.Dst, "via", r.Gateway)
	}
	for dst := range have {
		if !wanted[dst] {
			if err := n.ip("route", "delete", dst, "proto", RouteProtocol); err != nil {
				errs = append(errs, err)
				continue
			}
			n.log.Info("route removed", "podCIDR", dst)
		}
	}
	return errors.Join(errs...)
}

// routes reads this node's podnet routes: destination → gateway.
func (n *Network) routes() (map[string]string, error) {
	out, err := n.ipOutput("-j", "route", "show", "proto", RouteProtocol)
	if err != nil {
		return nil, err
	}
	var list []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	if len(strings.TrimSpace(out)) > 0 {
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return nil, fmt.Errorf("podnet: ip -j route: %w", err)
		}
	}
	have := make(map[string]string, len(list))
	for _, r := range list {
		have[r.Dst] = r.Gateway
	}
	return have, nil
}

// Close removes what Setup and Run made: the table, the routes, the local addresses.
func (n *Network) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	tx := n.cfg.NFT.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	if err := n.cfg.NFT.Run(ctx, tx); err != nil {
		errs = append(errs, fmt.Errorf("podnet: delete table %s: %w", TableName, err))
	}
	if have, err := n.routes(); err != nil {
		errs = append(errs, err)
	} else {
		for dst := range have {
			errs = append(errs, n.ip("route", "delete", dst, "proto", RouteProtocol))
		}
	}
	for _, ip := range n.local {
		if err := n.ip("addr", "delete", ip.String()+"/32", "dev", "lo"); err != nil && !strings.Contains(err.Error(), "Cannot assign") {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n.log.Info("pod network rules removed")
	return nil
}

func (n *Network) ip(args ...string) error {
	_, err := n.ipOutput(args...)
	return err
}

// ipOutput runs `ip` in the node's network namespace.
func (n *Network) ipOutput(args ...string) (string, error) {
	if n.cfg.NetNS != "" {
		args = append([]string{"-n", filepath.Base(n.cfg.NetNS)}, args...)
	}
	cmd := exec.Command("ip", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("podnet: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
