package podnet

import (
	"net/netip"
	"reflect"
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
	nodes := []*corev1.Node{
		node("self", "10.42.0.0/24", internal("192.168.1.10")),
		node("b", "10.42.2.0/24", corev1.NodeAddress{Type: corev1.NodeHostName, Address: "b"}, internal("192.168.1.12")),
		node("a", "10.42.1.0/24", internal("192.168.1.11")),
		node("no-cidr", "", internal("192.168.1.13")),
		node("no-ip", "10.42.4.0/24"),
		node("loopback", "10.42.5.0/24", internal("127.0.0.1")),
		node("outside", "10.99.0.0/24", internal("192.168.1.14")),
		node("v6", "10.42.6.0/24", internal("fd00::1")),
		node("bad-cidr", "10.42.7.0/33", internal("192.168.1.15")),
	}
	got := DesiredRoutes("self", cluster, nodes)
	want := []Route{
		{Dst: "10.42.1.0/24", Gateway: "192.168.1.11", Node: "a"},
		{Dst: "10.42.2.0/24", Gateway: "192.168.1.12", Node: "b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DesiredRoutes =\n%v\nwant\n%v", got, want)
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

// The masquerade rule covers exactly this node's pods talking beyond the cluster.
func TestSetupWritesMasqueradeRule(t *testing.T) {
	fake := knftables.NewFake(knftables.IPv4Family, TableName)
	n, err := New(Config{ClusterCIDR: "10.42.0.0/16", PodCIDR: "10.42.3.0/24", NFT: fake})
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
}
