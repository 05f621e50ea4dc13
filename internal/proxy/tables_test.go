package proxy

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestIsProxyTable(t *testing.T) {
	for name, want := range map[string]bool{
		TableName: true, "berth-proxy-0": true, "berth-proxy-31": true, "berth-proxy-255": true,
		"berth-proxy-": false, "berth-proxy-x": false, "berth-proxy-1a": false, "berth-proxyx": false, "kube-proxy": false, "": false,
	} {
		if got := IsProxyTable(name); got != want {
			t.Errorf("IsProxyTable(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseSizeName(t *testing.T) {
	for _, class := range classes {
		for _, n := range []int{1, 2, 17, 300} {
			if c, got, ok := parseSizeName(sizeName(class, n)); !ok || c != class || got != n {
				t.Errorf("parseSizeName(%q) = %q, %d, %v", sizeName(class, n), c, got, ok)
			}
		}
	}
	for _, name := range []string{"svc-ip", "svc-ip-0", "svc-ip-01", "svc-ip-x", "svc-other-2", "service-ips", "hairpin", ""} {
		if _, _, ok := parseSizeName(name); ok {
			t.Errorf("parseSizeName(%q) ok", name)
		}
	}
}

// The table's chains do not grow with the number of Services (only with the numbers of
// endpoints in use, and the Services with session affinity): every nf_tables commit
// walks every chain of the namespace.
func TestChainsDoNotGrowWithServices(t *testing.T) {
	chains := func(n int) (int, string) {
		c := newCluster()
		for i := range n {
			name := fmt.Sprintf("svc-%03d", i)
			o := []func(*corev1.Service){clusterIP(fmt.Sprintf("10.43.%d.%d", i/200, i%200+1))}
			if i%3 == 1 {
				o = append(o, nodePort(int32(30000+i)))
			}
			if i%5 == 2 {
				o = append(o, nodePort(int32(30000+i)), externalLocal)
			}
			svc := service(name, o...)
			eps := []ep{{ip: fmt.Sprintf("10.42.%d.%d", i%200, 2), node: "node-a"}, {ip: fmt.Sprintf("10.42.%d.%d", i%200, 3), node: "node-b"}}
			c.add(svc, slice(svc, name+"-1", 8080, eps[:1+i%2]...))
		}
		dump := fullDump(t, c, testParams)
		return strings.Count(dump, "add chain "), dump
	}
	few, _ := chains(20)
	many, dump := chains(400)
	if few != many {
		t.Fatalf("%d chains with 20 Services, %d with 400", few, many)
	}
	for _, want := range []string{
		"add rule ip berth-proxy filter-forward ct state new jump endpoints-check",
		"add rule ip berth-proxy nat-prerouting jump services",
		"add rule ip berth-proxy nat-postrouting jump masquerading",
		"add rule ip berth-proxy services ip daddr @nodeport-ips jump nodeports",
		"add rule ip berth-proxy svc-ip jump svc-ip-1",
		"add rule ip berth-proxy svc-ip jump svc-ip-2",
		"add rule ip berth-proxy svc-ip-2 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @svc-ip-2",
		"add rule ip berth-proxy svc-nodeport-1 meta l4proto { tcp, udp, sctp } dnat ip to meta l4proto . th dport . numgen random mod 1 map @svc-nodeport-1",
		"add element ip berth-proxy svc-ip-2 { 10.43.0.2 . tcp . 80 . 1 : 10.42.1.3 . 8080 }",
	} {
		if !strings.Contains(dump, want+"\n") {
			t.Errorf("no %q", want)
		}
	}
}
