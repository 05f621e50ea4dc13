package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
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
	// Mode chooses between routes and the VXLAN tunnel per node ("": ModeAuto).
	Mode Mode
	// NodeIP is this node's InternalIP: the tunnel's local end.
	NodeIP string
	// Nodes is a Node informer; Run routes to every other node in it.
	Nodes cache.SharedIndexInformer
	// NFT is the table (nil: the real one in NetNS).
	NFT knftables.Interface
	Log *slog.Logger
}

// Network keeps the node's routes, tunnel, masquerade rule and local addresses.
type Network struct {
	cfg     Config
	log     *slog.Logger
	cluster netip.Prefix
	pod     netip.Prefix
	local   []netip.Addr
	nodeIP  netip.Addr // invalid: none (no tunnel)
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
	if n.cfg.Mode, err = ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("podnet: %w", err)
	}
	if cfg.NodeIP != "" {
		if n.nodeIP, err = netip.ParseAddr(cfg.NodeIP); err != nil || !n.nodeIP.Is4() {
			return nil, fmt.Errorf("podnet: node IP %q is not an IPv4 address", cfg.NodeIP)
		}
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
			AddFunc: enqueue, UpdateFunc: func(old, cur any) {
				// Status heartbeats change nothing podnet reads.
				o, ok1 := old.(*corev1.Node)
				c, ok2 := cur.(*corev1.Node)
				if !ok1 || !ok2 || o.Spec.PodCIDR != c.Spec.PodCIDR || internalIP(o) != internalIP(c) {
					enqueue(cur)
				}
			}, DeleteFunc: enqueue,
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
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("berth: masquerade of pod traffic leaving the cluster network, TCP MSS through the VXLAN tunnel")})
	tx.Flush(&knftables.Table{})
	tx.Add(&knftables.Chain{
		Name: "postrouting", Type: knftables.PtrTo(knftables.NATType),
		Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority),
	})
	tx.Add(&knftables.Rule{
		Chain: "postrouting",
		Rule:  knftables.Concat("ip saddr", n.pod.String(), "ip daddr !=", n.cluster.String(), "masquerade fully-random"),
	})
	if n.cfg.Mode != ModeHostGW {
		// Pods keep the link's MTU in auto mode: a TCP connection through the tunnel
		// agrees on segments that fit it without waiting for ICMP (which the node sends
		// too, for the rest).
		tx.Add(&knftables.Chain{
			Name: "forward", Type: knftables.PtrTo(knftables.FilterType),
			Hook: knftables.PtrTo(knftables.ForwardHook), Priority: knftables.PtrTo(knftables.ManglePriority),
		})
		tx.Add(&knftables.Rule{
			Chain: "forward",
			Rule:  knftables.Concat("oifname", `"`+VXLANDevice+`"`, "tcp flags syn / syn,rst tcp option maxseg size set rt mtu"),
		})
	}
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

// Run keeps the ways to the other nodes' pod CIDRs until ctx ends. The Nodes informer
// must be started by the caller.
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

// syncRoutes makes this node's routes (protocol RouteProtocol), and its tunnel when
// some node needs it, the desired ones.
func (n *Network) syncRoutes(_ context.Context) error {
	nodes, err := n.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	ls, err := readLinks(n.cfg.NetNS)
	if err != nil {
		return err
	}
	want := DesiredRoutes(n.cfg.Mode, Self{Name: n.cfg.NodeName, IP: n.nodeIP, Connected: ls.connected()}, n.cluster, nodes)
	var errs []error
	for _, u := range want.Unroutable {
		errs = append(errs, fmt.Errorf("node %s (%s) unreachable: %s", u.Node, u.NodeIP, u.Reason))
	}
	tunnel, tunnelOK := want.Tunneled(), true
	if tunnel {
		// Neighbours first: a route through the tunnel to a peer the device cannot
		// resolve would drop its traffic.
		if err := n.syncTunnel(ls, want.Routes); err != nil {
			errs, tunnelOK = append(errs, err), false
		}
	}
	have, err := n.routes()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	wanted := map[string]bool{}
	for _, r := range want.Routes {
		wanted[r.Dst] = true
		if r.VXLAN && !tunnelOK {
			continue // left as it is until the device is right
		}
		cur, ok := have[r.Dst]
		if ok && cur.Gateway == r.Gateway && (cur.Dev == VXLANDevice) == r.VXLAN {
			continue
		}
		args := []string{"route", "replace", r.Dst, "via", r.Gateway, "proto", RouteProtocol}
		if r.VXLAN {
			args = append(args, "dev", VXLANDevice, "onlink")
		}
		if err := n.ip(args...); err != nil {
			errs = append(errs, fmt.Errorf("route to node %s's pods: %w", r.Node, err))
			continue
		}
		n.log.Info("route to a node's pods", "node", r.Node, "podCIDR", r.Dst, "via", r.Gateway, "vxlan", r.VXLAN, "nodeIP", r.NodeIP)
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
	if !tunnel && ls.named(VXLANDevice) != nil {
		errs = append(errs, n.deleteTunnel())
	}
	return errors.Join(errs...)
}

// installedRoute is one of podnet's routes as the kernel has it.
type installedRoute struct {
	Dst     string `json:"dst"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
}

// routes reads this node's podnet routes by destination.
func (n *Network) routes() (map[string]installedRoute, error) {
	out, err := n.ipOutput("-j", "route", "show", "proto", RouteProtocol)
	if err != nil {
		return nil, err
	}
	var list []installedRoute
	if err := unmarshalList(out, &list); err != nil {
		return nil, fmt.Errorf("podnet: ip -j route: %w", err)
	}
	have := make(map[string]installedRoute, len(list))
	for _, r := range list {
		have[r.Dst] = r
	}
	return have, nil
}

// Close removes what Setup and Run made: the table, the routes, the VXLAN device, the
// local addresses.
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
	errs = append(errs, n.deleteTunnel())
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
func (n *Network) ipOutput(args ...string) (string, error) { return runIn(n.cfg.NetNS, "ip", args...) }

// runIn runs an iproute2 command (ip, bridge) in the network namespace netNS (a path;
// empty: this process's).
func runIn(netNS, command string, args ...string) (string, error) {
	if netNS != "" {
		args = append([]string{"-n", filepath.Base(netNS)}, args...)
	}
	cmd := exec.Command(command, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("podnet: %s %s: %v: %s", command, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
