package proxy

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/google/go-cmp/cmp"
)

type ruleCase struct {
	name    string
	cluster *cluster
	want    []string
}

// web is the Service "web" with opts and one slice of eps on port 8080.
func web(opts []func(*corev1.Service), eps ...ep) *cluster {
	c := newCluster()
	svc := service("web", opts...)
	var slices []*discoveryv1.EndpointSlice
	if len(eps) > 0 {
		slices = append(slices, slice(svc, "web-1", 8080, eps...))
	}
	c.add(svc, slices...)
	return c
}

type opts = []func(*corev1.Service)

func ruleCases() []ruleCase {
	local := ep{ip: "10.42.0.5", node: "node-a"}
	remote := ep{ip: "10.42.1.7", node: "node-b"}
	return []ruleCase{
		{name: "ClusterIP with two endpoints", cluster: web(nil, local, remote)},
		{name: "no endpoints: reject", cluster: web(nil)},
		{name: "NodePort", cluster: web(opts{nodePort(30080)}, local, remote)},
		{name: "NodePort without endpoints: reject both", cluster: web(opts{nodePort(30080)})},
		{name: "session affinity ClientIP", cluster: web(opts{affinity(600)}, local, remote)},
		{name: "internalTrafficPolicy Local", cluster: web(opts{internalLocal}, local, remote)},
		{name: "internalTrafficPolicy Local, no local endpoint: drop", cluster: web(opts{internalLocal}, remote)},
		{name: "externalTrafficPolicy Local", cluster: web(opts{nodePort(30080), externalLocal}, local, remote)},
		{name: "externalTrafficPolicy Local, no local endpoint: drop external", cluster: web(opts{nodePort(30080), externalLocal}, remote)},
		{name: "terminating endpoints unused while one is ready", cluster: web(nil, local, ep{ip: "10.42.1.8", terminating: true})},
		{name: "serving terminating endpoints when none is ready", cluster: web(nil, ep{ip: "10.42.1.8", terminating: true}, ep{ip: "10.42.1.9", terminating: true, notServing: true})},
		{name: "not ready endpoints: reject", cluster: web(nil, ep{ip: "10.42.1.8", notReady: true, notServing: true})},
		{name: "unset conditions mean ready", cluster: web(nil, ep{ip: "10.42.1.8", unset: true})},
		{name: "headless service: nothing", cluster: web(opts{clusterIP(corev1.ClusterIPNone)}, local)},
		{name: "ExternalName: nothing", cluster: web(opts{func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "", nil, "example.com"
		}})},
		{name: "UDP with external IP", cluster: web(opts{func(s *corev1.Service) {
			s.Spec.Ports[0].Protocol = corev1.ProtocolUDP
			s.Spec.ExternalIPs = []string{"192.0.2.10"}
		}}, local)},
	}
}

// The rules for representative services, as `nft` would list them (hashes in names
// elided, the fixed part of the table left out).
func TestRuleGeneration(t *testing.T) {
	want := map[string][]string{}
	for _, block := range strings.Split(strings.TrimSpace(goldenRules), "\n== ")[0:] {
		name, body, _ := strings.Cut(strings.TrimPrefix(block, "== "), "\n")
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		want[name] = lines
	}
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := serviceLines(t, tc.cluster, testParams)
			if diff := cmp.Diff(want[tc.name], got); diff != "" {
				t.Errorf("rules (-want +got):\n%s\ngot:\n%s", diff, strings.Join(got, "\n"))
			}
		})
	}
}

const goldenRules = `
== ClusterIP with two endpoints
chain svc-ip-2
map svc-ip-2 { typeof ip daddr . meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-2
rule svc-ip-2 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @svc-ip-2
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-2 { 10.43.0.10 . tcp . 80 . 0 : 10.42.0.5 . 8080 }
element svc-ip-2 { 10.43.0.10 . tcp . 80 . 1 : 10.42.1.7 . 8080 }
== no endpoints: reject
element reject-services { 10.43.0.10 . tcp . 80 }
== NodePort
chain svc-ip-2
chain svc-nodeport-2
map svc-ip-2 { typeof ip daddr . meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport ; }
map svc-nodeport-2 { typeof meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-2
rule svc-ip-2 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @svc-ip-2
rule svc-nodeport jump svc-nodeport-2
rule svc-nodeport-2 meta l4proto { tcp, udp, sctp } dnat ip to meta l4proto . th dport . numgen random mod 2 map @svc-nodeport-2
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element masquerade-nodeports { tcp . 30080 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-2 { 10.43.0.10 . tcp . 80 . 0 : 10.42.0.5 . 8080 }
element svc-ip-2 { 10.43.0.10 . tcp . 80 . 1 : 10.42.1.7 . 8080 }
element svc-nodeport-2 { tcp . 30080 . 0 : 10.42.0.5 . 8080 }
element svc-nodeport-2 { tcp . 30080 . 1 : 10.42.1.7 . 8080 }
== NodePort without endpoints: reject both
element reject-nodeports { tcp . 30080 }
element reject-services { 10.43.0.10 . tcp . 80 }
== session affinity ClientIP
chain endpoint-default/web/tcp/http__10.42.0.5/8080
chain endpoint-default/web/tcp/http__10.42.1.7/8080
chain service-default/web/tcp/http
set affinity-default/web/tcp/http__10.42.0.5/8080 { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }
set affinity-default/web/tcp/http__10.42.1.7/8080 { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }
rule endpoint-default/web/tcp/http__10.42.0.5/8080 update @affinity-default/web/tcp/http__10.42.0.5/8080 { ip saddr }
rule endpoint-default/web/tcp/http__10.42.0.5/8080 meta l4proto tcp dnat to 10.42.0.5:8080
rule endpoint-default/web/tcp/http__10.42.1.7/8080 update @affinity-default/web/tcp/http__10.42.1.7/8080 { ip saddr }
rule endpoint-default/web/tcp/http__10.42.1.7/8080 meta l4proto tcp dnat to 10.42.1.7:8080
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http ip saddr @affinity-default/web/tcp/http__10.42.0.5/8080 goto endpoint-default/web/tcp/http__10.42.0.5/8080
rule service-default/web/tcp/http ip saddr @affinity-default/web/tcp/http__10.42.1.7/8080 goto endpoint-default/web/tcp/http__10.42.1.7/8080
rule service-default/web/tcp/http numgen random mod 2 == 0 goto endpoint-default/web/tcp/http__10.42.0.5/8080
rule service-default/web/tcp/http goto endpoint-default/web/tcp/http__10.42.1.7/8080
element affinity-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
== internalTrafficPolicy Local
chain svc-ip-1
map svc-ip-1 { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-1
rule svc-ip-1 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1 map @svc-ip-1
element hairpin { 10.42.0.5 . 10.42.0.5 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-1 { 10.43.0.10 . tcp . 80 . 0 : 10.42.0.5 . 8080 }
== internalTrafficPolicy Local, no local endpoint: drop
element drop-services { 10.43.0.10 . tcp . 80 }
== externalTrafficPolicy Local
chain svc-ip-2
chain svc-nodeport-1
chain svc-nodeport-cluster-2
map svc-ip-2 { typeof ip daddr . meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport ; }
map svc-nodeport-1 { typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
map svc-nodeport-cluster-2 { typeof meta l4proto . th dport . numgen random mod 2 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-2
rule svc-ip-2 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @svc-ip-2
rule svc-nodeport jump svc-nodeport-1
rule svc-nodeport-1 meta l4proto { tcp, udp, sctp } dnat ip to meta l4proto . th dport . numgen random mod 1 map @svc-nodeport-1
rule svc-nodeport-cluster jump svc-nodeport-cluster-2
rule svc-nodeport-cluster-2 meta l4proto { tcp, udp, sctp } dnat ip to meta l4proto . th dport . numgen random mod 2 map @svc-nodeport-cluster-2
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element local-policy-nodeports { tcp . 30080 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-2 { 10.43.0.10 . tcp . 80 . 0 : 10.42.0.5 . 8080 }
element svc-ip-2 { 10.43.0.10 . tcp . 80 . 1 : 10.42.1.7 . 8080 }
element svc-nodeport-1 { tcp . 30080 . 0 : 10.42.0.5 . 8080 }
element svc-nodeport-cluster-2 { tcp . 30080 . 0 : 10.42.0.5 . 8080 }
element svc-nodeport-cluster-2 { tcp . 30080 . 1 : 10.42.1.7 . 8080 }
== externalTrafficPolicy Local, no local endpoint: drop external
chain svc-ip-1
chain svc-nodeport-cluster-1
map svc-ip-1 { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
map svc-nodeport-cluster-1 { typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-1
rule svc-ip-1 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1 map @svc-ip-1
rule svc-nodeport-cluster jump svc-nodeport-cluster-1
rule svc-nodeport-cluster-1 meta l4proto { tcp, udp, sctp } dnat ip to meta l4proto . th dport . numgen random mod 1 map @svc-nodeport-cluster-1
element drop-nodeports { tcp . 30080 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element local-policy-nodeports { tcp . 30080 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-1 { 10.43.0.10 . tcp . 80 . 0 : 10.42.1.7 . 8080 }
element svc-nodeport-cluster-1 { tcp . 30080 . 0 : 10.42.1.7 . 8080 }
== terminating endpoints unused while one is ready
chain svc-ip-1
map svc-ip-1 { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-1
rule svc-ip-1 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1 map @svc-ip-1
element hairpin { 10.42.0.5 . 10.42.0.5 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-1 { 10.43.0.10 . tcp . 80 . 0 : 10.42.0.5 . 8080 }
== serving terminating endpoints when none is ready
chain svc-ip-1
map svc-ip-1 { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-1
rule svc-ip-1 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1 map @svc-ip-1
element hairpin { 10.42.1.8 . 10.42.1.8 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-1 { 10.43.0.10 . tcp . 80 . 0 : 10.42.1.8 . 8080 }
== not ready endpoints: reject
element reject-services { 10.43.0.10 . tcp . 80 }
== unset conditions mean ready
chain svc-ip-1
map svc-ip-1 { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-1
rule svc-ip-1 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1 map @svc-ip-1
element hairpin { 10.42.1.8 . 10.42.1.8 }
element masquerade-outside { 10.43.0.10 . tcp . 80 }
element svc-ip-1 { 10.43.0.10 . tcp . 80 . 0 : 10.42.1.8 . 8080 }
== headless service: nothing

== ExternalName: nothing

== UDP with external IP
chain svc-ip-1
map svc-ip-1 { typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport ; }
rule svc-ip jump svc-ip-1
rule svc-ip-1 meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1 map @svc-ip-1
element hairpin { 10.42.0.5 . 10.42.0.5 }
element masquerade-ips { 192.0.2.10 . udp . 80 }
element masquerade-outside { 10.43.0.10 . udp . 80 }
element svc-ip-1 { 10.43.0.10 . udp . 80 . 0 : 10.42.0.5 . 8080 }
element svc-ip-1 { 192.0.2.10 . udp . 80 . 0 : 10.42.0.5 . 8080 }
`

// An affinity Service's chain picks each of N endpoints with probability 1/N (after
// sending a known client to its endpoint): through a cascade of numgen matches up to
// maxCascade endpoints, through one numgen verdict map past it.
func TestBalanceRules(t *testing.T) {
	gotoRE := regexp.MustCompile(`^numgen random mod (\d+) == 0 goto (\S+)$`)
	for n := 1; n <= maxCascade+2; n++ {
		sp := &servicePort{service: "default/web", portName: "http", protocol: "tcp", affinity: 1}
		var eps []endpoint
		for i := range n {
			eps = append(eps, endpoint{ip: fmt.Sprintf("10.42.0.%d", i+2), port: 8080})
		}
		rules := balanceRules(sp, eps)
		for i, e := range eps {
			name := sp.endpointBaseName(e)
			if want := fmt.Sprintf("ip saddr @%s goto %s", affinitySetPrefix+name, endpointChainPrefix+name); rules[i] != want {
				t.Fatalf("%d endpoints: rule %d %q, want %q", n, i, rules[i], want)
			}
		}
		rules = rules[n:]
		if n > maxCascade {
			if len(rules) != 1 || !strings.HasPrefix(rules[0], fmt.Sprintf("numgen random mod %d vmap { 0 : goto ", n)) || strings.Count(rules[0], "goto") != n {
				t.Errorf("%d endpoints: %q, want one numgen vmap", n, rules)
			}
			continue
		}
		// The chance that a connection reaches each rule, and then takes its endpoint.
		chance := map[string]float64{}
		reach := 1.0
		for i, rule := range rules {
			if i == len(rules)-1 {
				target, ok := strings.CutPrefix(rule, "goto ")
				if !ok {
					t.Fatalf("%d endpoints: last rule %q", n, rule)
				}
				chance[target] += reach
				break
			}
			m := gotoRE.FindStringSubmatch(rule)
			if m == nil {
				t.Fatalf("%d endpoints: rule %q", n, rule)
			}
			mod, _ := strconv.Atoi(m[1])
			chance[m[2]] += reach / float64(mod)
			reach -= reach / float64(mod)
		}
		if len(chance) != n {
			t.Fatalf("%d endpoints: rules %q reach %d of them", n, rules, len(chance))
		}
		for target, p := range chance {
			if math.Abs(p-1/float64(n)) > 1e-9 {
				t.Errorf("%d endpoints: %s gets %.4f, want %.4f", n, target, p, 1/float64(n))
			}
		}
	}
}
