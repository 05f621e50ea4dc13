package podnet

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/knftables"
)

// scratchNode is a network namespace with a veth holding 192.168.50.10/24 (MTU 1500),
// as a node's link; it is deleted in t.Cleanup. The test is skipped unless root can
// make VXLAN devices.
func scratchNode(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "podnet-test-" + hex.EncodeToString(b)
	sh := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Logf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return err
	}
	if err := sh("netns", "add", name); err != nil {
		t.Fatal("ip netns add failed")
	}
	t.Cleanup(func() {
		if err := sh("netns", "delete", name); err != nil {
			t.Error("cleanup failed")
		}
	})
	if sh("-n", name, "link", "add", "probe", "type", "vxlan", "id", "1", "dstport", "8472") != nil {
		t.Skip("this kernel makes no VXLAN devices")
	}
	for _, args := range [][]string{
		{"-n", name, "link", "delete", "probe"},
		{"-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"},
		{"-n", name, "addr", "add", "192.168.50.10/24", "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "peer0", "up"},
	} {
		if err := sh(args...); err != nil {
			t.Fatal("setting up the scratch node failed")
		}
	}
	return "/run/netns/" + name
}

// syncRoutes against a real kernel: routes to a neighbour, the tunnel to a node behind
// a router, the peer's entries following its address, the device going when no node
// needs it and with Close.
func TestSyncRoutesInNetNS(t *testing.T) {
	netNS := scratchNode(t)
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	n, err := New(Config{
		NodeName: "self", NetNS: netNS, ClusterCIDR: "10.42.0.0/16", PodCIDR: "10.42.0.0/24", NodeIP: "192.168.50.10",
		NFT: knftables.NewFake(knftables.IPv4Family, TableName), Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.nodes = corelisters.NewNodeLister(indexer)
	set := func(nodes ...*corev1.Node) {
		t.Helper()
		if err := indexer.Replace(toAny(nodes), ""); err != nil {
			t.Fatal(err)
		}
		if err := n.syncRoutes(t.Context()); err != nil {
			t.Fatalf("syncRoutes: %v", err)
		}
		// A second sync finds nothing to do and changes nothing.
		if err := n.syncRoutes(t.Context()); err != nil {
			t.Fatalf("second syncRoutes: %v", err)
		}
	}
	self := node("self", "10.42.0.0/24", internal("192.168.50.10"))
	near := node("near", "10.42.1.0/24", internal("192.168.50.11"))
	far := func(ip string) *corev1.Node { return node("far", "10.42.2.0/24", internal(ip)) }

	type state struct {
		routes map[string]installedRoute
		neighs map[string]string
		fdb    map[string]string
		dev    *link
	}
	read := func() state {
		t.Helper()
		var s state
		var err error
		if s.routes, err = n.routes(); err != nil {
			t.Fatal(err)
		}
		ls, err := readLinks(netNS)
		if err != nil {
			t.Fatal(err)
		}
		if s.dev = ls.named(VXLANDevice); s.dev != nil {
			if s.neighs, s.fdb, err = n.peers(); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}

	set(self, near, far("192.168.60.20"))
	s := read()
	if r := s.routes["10.42.1.0/24"]; r.Gateway != "192.168.50.11" || r.Dev != "eth0" {
		t.Errorf("route to the neighbour's pods: %+v, want via 192.168.50.11 dev eth0", r)
	}
	if r := s.routes["10.42.2.0/24"]; r.Gateway != "10.42.2.0" || r.Dev != VXLANDevice {
		t.Errorf("route to the far node's pods: %+v, want via 10.42.2.0 dev %s", r, VXLANDevice)
	}
	if s.dev == nil {
		t.Fatalf("no %s", VXLANDevice)
	}
	if s.dev.MTU != 1450 || s.dev.Address != "0e:42:c0:a8:32:0a" || !s.dev.has(netip.MustParsePrefix("10.42.0.0/32"), true) {
		t.Errorf("%s: MTU %d, MAC %s, addresses %+v; want 1450, 0e:42:c0:a8:32:0a, 10.42.0.0/32", VXLANDevice, s.dev.MTU, s.dev.Address, s.dev.Addrs)
	}
	if want := map[string]string{"10.42.2.0": "0e:42:c0:a8:3c:14"}; !maps.Equal(s.neighs, want) {
		t.Errorf("neighbours %v, want %v", s.neighs, want)
	}
	if want := map[string]string{"0e:42:c0:a8:3c:14": "192.168.60.20"}; !maps.Equal(s.fdb, want) {
		t.Errorf("forwarding entries %v, want %v", s.fdb, want)
	}

	t.Run("a node moving to another address", func(t *testing.T) {
		set(self, near, far("192.168.61.20"))
		s := read()
		if want := map[string]string{"10.42.2.0": "0e:42:c0:a8:3d:14"}; !maps.Equal(s.neighs, want) {
			t.Errorf("neighbours %v, want %v", s.neighs, want)
		}
		if want := map[string]string{"0e:42:c0:a8:3d:14": "192.168.61.20"}; !maps.Equal(s.fdb, want) {
			t.Errorf("forwarding entries %v, want %v", s.fdb, want)
		}
	})

	t.Run("the last tunneled node leaving takes the device", func(t *testing.T) {
		set(self, near)
		s := read()
		if s.dev != nil {
			t.Errorf("%s left with no node behind it", VXLANDevice)
		}
		if _, ok := s.routes["10.42.2.0/24"]; ok || len(s.routes) != 1 {
			t.Errorf("routes %v, want only the neighbour's", s.routes)
		}
	})

	t.Run("vxlan mode tunnels to the neighbour too", func(t *testing.T) {
		n.cfg.Mode = ModeVXLAN
		defer func() { n.cfg.Mode = ModeAuto }()
		set(self, near)
		if r := read().routes["10.42.1.0/24"]; r.Gateway != "10.42.1.0" || r.Dev != VXLANDevice {
			t.Errorf("route to the neighbour's pods: %+v, want via 10.42.1.0 dev %s", r, VXLANDevice)
		}
	})

	t.Run("host-gw reports the far node and routes the neighbour", func(t *testing.T) {
		n.cfg.Mode = ModeHostGW
		defer func() { n.cfg.Mode = ModeAuto }()
		if err := indexer.Replace(toAny([]*corev1.Node{self, near, far("192.168.60.20")}), ""); err != nil {
			t.Fatal(err)
		}
		err := n.syncRoutes(t.Context())
		if err == nil || !strings.Contains(err.Error(), "node far (192.168.60.20) unreachable") {
			t.Errorf("syncRoutes: %v; want the far node reported", err)
		}
		s := read()
		if r := s.routes["10.42.1.0/24"]; r.Gateway != "192.168.50.11" || r.Dev != "eth0" || len(s.routes) != 1 || s.dev != nil {
			t.Errorf("routes %v, device %v; want only via 192.168.50.11 dev eth0 and no tunnel", s.routes, s.dev != nil)
		}
	})

	t.Run("without a link for the tunnel, the neighbour is still routed", func(t *testing.T) {
		set(self, near)
		n.nodeIP = netip.MustParseAddr("192.168.50.99")
		defer func() { n.nodeIP = netip.MustParseAddr("192.168.50.10") }()
		if err := indexer.Replace(toAny([]*corev1.Node{self, far("192.168.60.20")}), ""); err != nil {
			t.Fatal(err)
		}
		if err := n.syncRoutes(t.Context()); err == nil || !strings.Contains(err.Error(), "no link has this node's address") {
			t.Errorf("syncRoutes: %v; want the missing link reported", err)
		}
		if err := indexer.Replace(toAny([]*corev1.Node{self, near, far("192.168.60.20")}), ""); err != nil {
			t.Fatal(err)
		}
		_ = n.syncRoutes(t.Context())
		s := read()
		if r := s.routes["10.42.1.0/24"]; r.Gateway != "192.168.50.11" || s.dev != nil {
			t.Errorf("routes %v, device %v; want the neighbour routed and no tunnel", s.routes, s.dev != nil)
		}
	})

	t.Run("Close removes the device and the routes", func(t *testing.T) {
		set(self, near, far("192.168.60.20"))
		if read().dev == nil {
			t.Fatalf("no %s before Close", VXLANDevice)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if s := read(); s.dev != nil || len(s.routes) != 0 {
			t.Errorf("after Close: device %v, routes %v", s.dev != nil, s.routes)
		}
	})
}

func toAny(nodes []*corev1.Node) []any {
	out := make([]any, len(nodes))
	for i, n := range nodes {
		out[i] = n
	}
	return out
}

func TestPodMTU(t *testing.T) {
	netNS := scratchNode(t)
	for _, tc := range []struct {
		mode    Mode
		nodeIP  string
		want    int
		wantErr bool
	}{
		{ModeAuto, "192.168.50.10", 0, false},
		{ModeHostGW, "192.168.50.10", 0, false},
		{ModeVXLAN, "192.168.50.10", 1450, false},
		{ModeVXLAN, "127.0.0.1", 0, true},
		{ModeVXLAN, "192.168.50.99", 0, true},
	} {
		got, err := PodMTU(tc.mode, netNS, tc.nodeIP)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("PodMTU(%s, %s) = %d, %v; want %d (error: %v)", tc.mode, tc.nodeIP, got, err, tc.want, tc.wantErr)
		}
	}
}
