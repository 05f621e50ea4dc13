package podnet

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/knftables"
)

func node(name, podCIDR string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR},
		Status:     corev1.NodeStatus{Addresses: addrs},
	}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func TestDesiredRoutes(t *testing.T) {
	cluster := netip.MustParsePrefix("10.42.0.0/16")
	self := Self{
		Name: "self", IP: netip.MustParseAddr("192.168.1.10"),
		Connected: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("172.16.0.0/16")},
	}
	nodes := []*corev1.Node{
		node("self", "10.42.0.0/24", internal("192.168.1.10")),
		node("b", "10.42.2.0/24", corev1.NodeAddress{Type: corev1.NodeHostName, Address: "b"}, internal("192.168.1.12")),
		node("a", "10.42.1.0/24", internal("192.168.1.11")),
		node("far", "10.42.3.0/24", internal("192.168.2.20")),
		node("other-link", "10.42.8.0/24", internal("172.16.4.5")),
		node("no-cidr", "", internal("192.168.1.13")),
		node("no-ip", "10.42.4.0/24"),
		node("loopback", "10.42.5.0/24", internal("127.0.0.1")),
		node("outside", "10.99.0.0/24", internal("192.168.1.14")),
		node("v6", "10.42.6.0/24", internal("fd00::1")),
		node("bad-cidr", "10.42.7.0/33", internal("192.168.1.15")),
		node("in-cluster-ip", "10.42.9.0/24", internal("10.42.200.1")),
	}
	direct := func(dst, node, ip string) Route { return Route{Dst: dst, Node: node, NodeIP: ip, Gateway: ip} }
	tunnel := func(dst, node, ip, vtep, mac string) Route {
		return Route{Dst: dst, Node: node, NodeIP: ip, Gateway: vtep, VXLAN: true, MAC: mac}
	}
	for _, tc := range []struct {
		name string
		mode Mode
		self Self
		// extra nodes beside the common ones
		extra []*corev1.Node
		want  Desired
	}{
		{
			name: "auto: routes on shared subnets, the tunnel for the rest", mode: ModeAuto, self: self,
			want: Desired{Routes: []Route{
				direct("10.42.1.0/24", "a", "192.168.1.11"),
				direct("10.42.2.0/24", "b", "192.168.1.12"),
				tunnel("10.42.3.0/24", "far", "192.168.2.20", "10.42.3.0", "0e:42:c0:a8:02:14"),
				direct("10.42.8.0/24", "other-link", "172.16.4.5"),
			}},
		},
		{
			name: "the zero mode is auto", mode: "", self: self,
			want: Desired{Routes: []Route{
				direct("10.42.1.0/24", "a", "192.168.1.11"),
				direct("10.42.2.0/24", "b", "192.168.1.12"),
				tunnel("10.42.3.0/24", "far", "192.168.2.20", "10.42.3.0", "0e:42:c0:a8:02:14"),
				direct("10.42.8.0/24", "other-link", "172.16.4.5"),
			}},
		},
		{
			name: "host-gw: nodes off this node's subnets are reported", mode: ModeHostGW, self: self,
			want: Desired{
				Routes: []Route{
					direct("10.42.1.0/24", "a", "192.168.1.11"),
					direct("10.42.2.0/24", "b", "192.168.1.12"),
					direct("10.42.8.0/24", "other-link", "172.16.4.5"),
				},
				Unroutable: []Unroutable{{Node: "far", NodeIP: "192.168.2.20", Reason: "x"}},
			},
		},
		{
			name: "vxlan: every node through the tunnel", mode: ModeVXLAN, self: self,
			want: Desired{Routes: []Route{
				tunnel("10.42.1.0/24", "a", "192.168.1.11", "10.42.1.0", "0e:42:c0:a8:01:0b"),
				tunnel("10.42.2.0/24", "b", "192.168.1.12", "10.42.2.0", "0e:42:c0:a8:01:0c"),
				tunnel("10.42.3.0/24", "far", "192.168.2.20", "10.42.3.0", "0e:42:c0:a8:02:14"),
				tunnel("10.42.8.0/24", "other-link", "172.16.4.5", "10.42.8.0", "0e:42:ac:10:04:05"),
			}},
		},
		{
			name: "auto without an address of its own: no tunnel", mode: ModeAuto,
			self: Self{Name: "self", Connected: self.Connected},
			want: Desired{
				Routes: []Route{
					direct("10.42.1.0/24", "a", "192.168.1.11"),
					direct("10.42.2.0/24", "b", "192.168.1.12"),
					direct("10.42.8.0/24", "other-link", "172.16.4.5"),
				},
				Unroutable: []Unroutable{{Node: "far", NodeIP: "192.168.2.20", Reason: "x"}},
			},
		},
		{
			name: "a node claiming this node's address is reported", mode: ModeAuto, self: self,
			extra: []*corev1.Node{node("twin", "10.42.10.0/24", internal("192.168.1.10"))},
			want: Desired{
				Routes: []Route{
					direct("10.42.1.0/24", "a", "192.168.1.11"),
					direct("10.42.2.0/24", "b", "192.168.1.12"),
					tunnel("10.42.3.0/24", "far", "192.168.2.20", "10.42.3.0", "0e:42:c0:a8:02:14"),
					direct("10.42.8.0/24", "other-link", "172.16.4.5"),
				},
				Unroutable: []Unroutable{{Node: "twin", NodeIP: "192.168.1.10", Reason: "x"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DesiredRoutes(tc.mode, tc.self, cluster, append(slices.Clone(nodes), tc.extra...))
			// Reasons are for people; compare the rest.
			for i := range got.Unroutable {
				if got.Unroutable[i].Reason == "" {
					t.Errorf("unroutable %s has no reason", got.Unroutable[i].Node)
				}
				got.Unroutable[i].Reason = "x"
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DesiredRoutes =\n%+v\nwant\n%+v", got, tc.want)
			}
			if tunneled := slices.ContainsFunc(tc.want.Routes, func(r Route) bool { return r.VXLAN }); got.Tunneled() != tunneled {
				t.Errorf("Tunneled() = %v, want %v", got.Tunneled(), tunneled)
			}
		})
	}
}

func TestModeFlag(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModeAuto, false}, {"auto", ModeAuto, false}, {"host-gw", ModeHostGW, false}, {"vxlan", ModeVXLAN, false},
		{"flannel", "", true}, {"VXLAN", "", true},
	} {
		var m Mode
		err := m.Set(tc.in)
		if (err != nil) != tc.wantErr || m != tc.want {
			t.Errorf("Set(%q) = %q, %v; want %q (error: %v)", tc.in, m, err, tc.want, tc.wantErr)
		}
	}
	if got := Mode("").String(); got != "auto" {
		t.Errorf(`Mode("").String() = %q, want auto`, got)
	}
}

// A node's links as `ip -d -j addr show` gives them: the subnets it reaches directly
// and the link holding its address.
func TestLinks(t *testing.T) {
	const out = `[
	{"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8},{"family":"inet","local":"10.43.0.10","prefixlen":32}]},
	{"ifname":"eth0","flags":["UP"],"mtu":9000,"addr_info":[{"family":"inet","local":"192.168.1.10","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]},
	{"ifname":"cni0","flags":["UP"],"mtu":1500,"addr_info":[{"family":"inet","local":"10.42.0.1","prefixlen":24}]},
	{"ifname":"berth.1","flags":["UP"],"mtu":8950,"address":"0e:42:c0:a8:01:0a",
	 "linkinfo":{"info_kind":"vxlan","info_data":{"id":1,"local":"192.168.1.10","port":8472,"learning":false}},
	 "addr_info":[{"family":"inet","local":"10.42.0.0","prefixlen":32}]}
	]`
	var ls links
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.42.0.0/24")}
	if got := ls.connected(); !slices.Equal(got, want) {
		t.Errorf("connected() = %v, want %v", got, want)
	}
	if l := ls.holding(netip.MustParseAddr("192.168.1.10")); l == nil || l.Name != "eth0" || l.MTU-VXLANOverhead != 8950 {
		t.Errorf("holding(192.168.1.10) = %+v, want eth0 (MTU 9000)", l)
	}
	if l := ls.holding(netip.MustParseAddr("192.168.1.11")); l != nil {
		t.Errorf("holding(192.168.1.11) = %s, want none", l.Name)
	}
	n := &Network{nodeIP: netip.MustParseAddr("192.168.1.10")}
	if dev := ls.named(VXLANDevice); dev == nil || !n.isOurTunnel(dev) {
		t.Errorf("%s is not recognised as this node's tunnel", VXLANDevice)
	}
	n.nodeIP = netip.MustParseAddr("192.168.1.99")
	if n.isOurTunnel(ls.named(VXLANDevice)) {
		t.Errorf("a tunnel from another local address is taken for this node's")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	fake := knftables.NewFake(knftables.IPv4Family, TableName)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad cluster CIDR", Config{ClusterCIDR: "10.42.0.0", PodCIDR: "10.42.0.0/24"}, `cluster CIDR "10.42.0.0"`},
		{"v6 pod CIDR", Config{ClusterCIDR: "10.42.0.0/16", PodCIDR: "fd00::/64"}, `pod CIDR "fd00::/64"`},
		{"pod CIDR outside", Config{ClusterCIDR: "10.42.0.0/16", PodCIDR: "10.50.0.0/24"}, "outside the cluster CIDR"},
		{"bad local IP", Config{ClusterCIDR: "10.42.0.0/16", PodCIDR: "10.42.0.0/24", LocalIPs: []string{"x"}}, `local IP "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.NFT = fake
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error naming %s", err, tc.want)
			}
		})
	}
}

// The masquerade rule covers exactly this node's pods talking beyond the cluster; TCP
// through the tunnel is clamped to it unless the node never tunnels (host-gw).
func TestSetupWritesTable(t *testing.T) {
	const clamp = `oifname "berth.1" tcp flags syn / syn,rst tcp option maxseg size set rt mtu`
	for _, tc := range []struct {
		mode      Mode
		wantClamp bool
	}{{ModeAuto, true}, {ModeVXLAN, true}, {ModeHostGW, false}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			fake := knftables.NewFake(knftables.IPv4Family, TableName)
			n, err := New(Config{ClusterCIDR: "10.42.0.0/16", PodCIDR: "10.42.3.0/24", Mode: tc.mode, NFT: fake})
			if err != nil {
				t.Fatal(err)
			}
			// Setup also touches sysctls and lo; write only the table here.
			if err := n.writeTable(t.Context()); err != nil {
				t.Fatal(err)
			}
			dump := fake.Dump()
			for _, want := range []string{"hook postrouting", "ip saddr 10.42.3.0/24 ip daddr != 10.42.0.0/16 masquerade fully-random"} {
				if !strings.Contains(dump, want) {
					t.Errorf("table lacks %q:\n%s", want, dump)
				}
			}
			if got := strings.Contains(dump, clamp); got != tc.wantClamp {
				t.Errorf("MSS clamp in the table: %v, want %v:\n%s", got, tc.wantClamp, dump)
			}
		})
	}
}
