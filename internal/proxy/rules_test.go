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
chain service-default/web/tcp/http
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http numgen random mod 2 == 0 meta l4proto tcp dnat to 10.42.0.5:8080
rule service-default/web/tcp/http meta l4proto tcp dnat to 10.42.1.7:8080
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
== no endpoints: reject
element reject-services { 10.43.0.10 . tcp . 80 }
== NodePort
chain external-default/web/tcp/http
chain service-default/web/tcp/http
rule external-default/web/tcp/http jump mark-for-masquerade
rule external-default/web/tcp/http goto service-default/web/tcp/http
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http numgen random mod 2 == 0 meta l4proto tcp dnat to 10.42.0.5:8080
rule service-default/web/tcp/http meta l4proto tcp dnat to 10.42.1.7:8080
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
element service-nodeports { tcp . 30080 : goto external-default/web/tcp/http }
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
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
== internalTrafficPolicy Local
chain local-default/web/tcp/http
rule local-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule local-default/web/tcp/http meta l4proto tcp dnat to 10.42.0.5:8080
element hairpin { 10.42.0.5 . 10.42.0.5 }
element service-ips { 10.43.0.10 . tcp . 80 : goto local-default/web/tcp/http }
== internalTrafficPolicy Local, no local endpoint: drop
element no-endpoint-services { 10.43.0.10 . tcp . 80 : drop }
== externalTrafficPolicy Local
chain external-default/web/tcp/http
chain local-default/web/tcp/http
chain service-default/web/tcp/http
rule external-default/web/tcp/http ip saddr 10.42.0.0/16 goto service-default/web/tcp/http
rule external-default/web/tcp/http fib saddr type local jump mark-for-masquerade
rule external-default/web/tcp/http fib saddr type local goto service-default/web/tcp/http
rule external-default/web/tcp/http goto local-default/web/tcp/http
rule local-default/web/tcp/http meta l4proto tcp dnat to 10.42.0.5:8080
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http numgen random mod 2 == 0 meta l4proto tcp dnat to 10.42.0.5:8080
rule service-default/web/tcp/http meta l4proto tcp dnat to 10.42.1.7:8080
element hairpin { 10.42.0.5 . 10.42.0.5 }
element hairpin { 10.42.1.7 . 10.42.1.7 }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
element service-nodeports { tcp . 30080 : goto external-default/web/tcp/http }
== externalTrafficPolicy Local, no local endpoint: drop external
chain external-default/web/tcp/http
chain service-default/web/tcp/http
rule external-default/web/tcp/http ip saddr 10.42.0.0/16 goto service-default/web/tcp/http
rule external-default/web/tcp/http fib saddr type local jump mark-for-masquerade
rule external-default/web/tcp/http fib saddr type local goto service-default/web/tcp/http
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http meta l4proto tcp dnat to 10.42.1.7:8080
element hairpin { 10.42.1.7 . 10.42.1.7 }
element no-endpoint-nodeports { tcp . 30080 : drop }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
element service-nodeports { tcp . 30080 : goto external-default/web/tcp/http }
== terminating endpoints unused while one is ready
chain service-default/web/tcp/http
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http meta l4proto tcp dnat to 10.42.0.5:8080
element hairpin { 10.42.0.5 . 10.42.0.5 }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
== serving terminating endpoints when none is ready
chain service-default/web/tcp/http
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http meta l4proto tcp dnat to 10.42.1.8:8080
element hairpin { 10.42.1.8 . 10.42.1.8 }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
== not ready endpoints: reject
element reject-services { 10.43.0.10 . tcp . 80 }
== unset conditions mean ready
chain service-default/web/tcp/http
rule service-default/web/tcp/http ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/tcp/http meta l4proto tcp dnat to 10.42.1.8:8080
element hairpin { 10.42.1.8 . 10.42.1.8 }
element service-ips { 10.43.0.10 . tcp . 80 : goto service-default/web/tcp/http }
== headless service: nothing

== ExternalName: nothing

== UDP with external IP
chain external-default/web/udp/http
chain service-default/web/udp/http
rule external-default/web/udp/http jump mark-for-masquerade
rule external-default/web/udp/http goto service-default/web/udp/http
rule service-default/web/udp/http ip daddr 10.43.0.10 udp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
rule service-default/web/udp/http meta l4proto udp dnat to 10.42.0.5:8080
element hairpin { 10.42.0.5 . 10.42.0.5 }
element service-ips { 10.43.0.10 . udp . 80 : goto service-default/web/udp/http }
element service-ips { 192.0.2.10 . udp . 80 : goto external-default/web/udp/http }
`

// A service chain picks each of N endpoints with probability 1/N: through a cascade of
// numgen matches up to maxCascade endpoints (translating itself, or going to the
// endpoint chains), through one numgen verdict map past it.
func TestBalanceRules(t *testing.T) {
	gotoRE := regexp.MustCompile(`^numgen random mod (\d+) == 0 goto (\S+)$`)
	dnatRE := regexp.MustCompile(`^numgen random mod (\d+) == 0 (meta l4proto tcp dnat to \S+)$`)
	for _, inline := range []bool{false, true} {
		matchRE, lastPrefix := gotoRE, "goto "
		if inline {
			matchRE, lastPrefix = dnatRE, ""
		}
		for n := 1; n <= maxCascade+2; n++ {
			if inline && n > maxCascade {
				break
			}
			sp := &servicePort{service: "default/web", portName: "http", protocol: "tcp"}
			var eps []endpoint
			for i := range n {
				eps = append(eps, endpoint{ip: fmt.Sprintf("10.42.0.%d", i+2), port: 8080})
			}
			rules := balanceRules(sp, eps, inline)
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
					target, ok := strings.CutPrefix(rule, lastPrefix)
					if !ok || inline && !strings.HasPrefix(rule, "meta l4proto tcp dnat to ") {
						t.Fatalf("%d endpoints (inline %v): last rule %q", n, inline, rule)
					}
					chance[target] += reach
					break
				}
				m := matchRE.FindStringSubmatch(rule)
				if m == nil {
					t.Fatalf("%d endpoints (inline %v): rule %q", n, inline, rule)
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
}
