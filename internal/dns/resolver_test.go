package dns

import (
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func clusterIPService(ns, name string, ips []string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
		ClusterIP: ips[0], ClusterIPs: ips, Ports: ports,
	}}
}

func headlessService(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return clusterIPService(ns, name, []string{corev1.ClusterIPNone}, ports...)
}

func externalService(ns, name, target string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeExternalName, ExternalName: target,
	}}
}

func endpointSlice(ns, service, name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func endpoint(ip string, ready bool, hostname string) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)}}
	if hostname != "" {
		ep.Hostname = ptr(hostname)
	}
	return ep
}

var (
	httpPort = corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}
	dnsPort  = corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
	pgPort   = corev1.ServicePort{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}
	pgSlice  = []discoveryv1.EndpointPort{{Name: ptr("pg"), Port: ptr[int32](5432), Protocol: ptr(corev1.ProtocolTCP)}}
)

// testSource is a small cluster with one of each kind of name.
func testSource() *MemorySource {
	return NewMemorySource(
		[]*corev1.Service{
			clusterIPService("default", "foo", []string{"10.43.0.20"}, httpPort, dnsPort),
			clusterIPService("default", "dual", []string{"10.43.0.21", "fd00:43::21"}, httpPort),
			headlessService("default", "db", pgPort),
			func() *corev1.Service {
				svc := headlessService("default", "pub", pgPort)
				svc.Spec.PublishNotReadyAddresses = true
				return svc
			}(),
			headlessService("default", "empty"),
			headlessService("default", "v6"),
			externalService("default", "ext", "Example.ORG"),
			externalService("default", "byip", "192.0.2.7"),
			clusterIPService("other", "bar", []string{"10.43.0.30"}, httpPort),
		},
		[]*discoveryv1.EndpointSlice{
			endpointSlice("default", "db", "db-a", pgSlice,
				endpoint("10.42.0.5", true, "db-0"), // a pod with hostname db-0 and subdomain db
				endpoint("10.42.1.6", true, ""),
				endpoint("10.42.1.7", false, "db-2")),
			// Slices being rebalanced hold an endpoint twice.
			endpointSlice("default", "db", "db-b", pgSlice, endpoint("10.42.1.6", true, "")),
			endpointSlice("default", "pub", "pub-a", pgSlice, endpoint("10.42.2.8", false, "")),
			endpointSlice("default", "foo", "foo-a", []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr[int32](8080)}},
				endpoint("10.42.3.9", true, "")),
			func() *discoveryv1.EndpointSlice {
				s := endpointSlice("default", "v6", "v6-a", nil, endpoint("fd00:42::5", true, ""))
				s.AddressType = discoveryv1.AddressTypeIPv6
				return s
			}(),
		},
	)
}

// values renders records as their type and data, sorted, for comparison.
func values(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		parts := strings.Split(rr.String(), "\t")
		out = append(out, dns.TypeToString[rr.Header().Rrtype]+" "+parts[len(parts)-1])
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

type resolveCase struct {
	name   string
	qname  string
	qtype  uint16
	rcode  int
	answer string
	extra  string
	forwd  bool
}

var resolveCases = []resolveCase{
	// Services with a cluster IP.
	{name: "service A", qname: "foo.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.43.0.20"},
	{name: "service AAAA of an IPv4 service is NODATA", qname: "foo.default.svc.cluster.local.", qtype: dns.TypeAAAA},
	{name: "service TXT is NODATA", qname: "foo.default.svc.cluster.local.", qtype: dns.TypeTXT},
	{name: "dual-stack A", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.43.0.21"},
	{name: "dual-stack AAAA", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeAAAA, answer: "AAAA fd00:43::21"},
	{name: "case insensitive", qname: "FOO.Default.SVC.Cluster.Local.", qtype: dns.TypeA, answer: "A 10.43.0.20"},
	{name: "missing service is NXDOMAIN", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "missing service AAAA is NXDOMAIN", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: dns.RcodeNameError},
	{name: "namespace with services is NODATA", qname: "default.svc.cluster.local.", qtype: dns.TypeA},
	{name: "namespace without services is NXDOMAIN", qname: "nons.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "service in another namespace", qname: "bar.other.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.43.0.30"},
	{name: "too many labels", qname: "a.b.c.foo.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},

	// What a stub resolver asks with the pod search path <ns>.svc.cluster.local
	// svc.cluster.local cluster.local and ndots:5, before the name as given.
	{name: "search: name.ns in pod namespace", qname: "foo.default.other.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "search: fqdn + ns suffix", qname: "foo.default.svc.cluster.local.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "search: fqdn + svc suffix", qname: "foo.default.svc.cluster.local.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "search: fqdn + zone suffix", qname: "foo.default.svc.cluster.local.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "search: name.ns.svc", qname: "foo.default.svc.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "search: external + ns suffix", qname: "example.org.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "search: node search domain is forwarded", qname: "foo.default.svc.cluster.local.corp.example.", qtype: dns.TypeA, forwd: true},

	// Headless services.
	{name: "headless lists ready endpoints once", qname: "db.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.0.5, A 10.42.1.6"},
	{name: "headless AAAA of IPv4 endpoints is NODATA", qname: "db.default.svc.cluster.local.", qtype: dns.TypeAAAA},
	{name: "headless publishNotReadyAddresses", qname: "pub.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.2.8"},
	{name: "headless IPv6 endpoints", qname: "v6.default.svc.cluster.local.", qtype: dns.TypeAAAA, answer: "AAAA fd00:42::5"},
	{name: "headless without endpoints is NXDOMAIN", qname: "empty.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "endpoint by hostname (hostname.subdomain)", qname: "db-0.db.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.0.5"},
	{name: "endpoint hostname AAAA is NODATA", qname: "db-0.db.default.svc.cluster.local.", qtype: dns.TypeAAAA},
	{name: "endpoint by dashed IP", qname: "10-42-1-6.db.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.1.6"},
	{name: "endpoint by dashed IPv6", qname: "fd00-42--5.v6.default.svc.cluster.local.", qtype: dns.TypeAAAA, answer: "AAAA fd00:42::5"},
	{name: "not-ready endpoint has no name", qname: "db-2.db.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "endpoint of a cluster IP service (as CoreDNS)", qname: "10-42-3-9.foo.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.3.9"},
	{name: "missing endpoint", qname: "db-9.db.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},

	// SRV.
	{name: "SRV of a named port", qname: "_http._tcp.foo.default.svc.cluster.local.", qtype: dns.TypeSRV,
		answer: "SRV 0 100 80 foo.default.svc.cluster.local.", extra: "A 10.43.0.20"},
	{name: "SRV of a UDP port", qname: "_dns._udp.foo.default.svc.cluster.local.", qtype: dns.TypeSRV,
		answer: "SRV 0 100 53 foo.default.svc.cluster.local.", extra: "A 10.43.0.20"},
	{name: "SRV case insensitive", qname: "_HTTP._TCP.foo.default.svc.cluster.local.", qtype: dns.TypeSRV,
		answer: "SRV 0 100 80 foo.default.svc.cluster.local.", extra: "A 10.43.0.20"},
	{name: "SRV of every port", qname: "foo.default.svc.cluster.local.", qtype: dns.TypeSRV,
		answer: "SRV 0 50 53 foo.default.svc.cluster.local., SRV 0 50 80 foo.default.svc.cluster.local.", extra: "A 10.43.0.20"},
	{name: "SRV of a dual-stack service", qname: "_http._tcp.dual.default.svc.cluster.local.", qtype: dns.TypeSRV,
		answer: "SRV 0 100 80 dual.default.svc.cluster.local.", extra: "A 10.43.0.21, AAAA fd00:43::21"},
	{name: "SRV of a headless port: one per endpoint", qname: "_pg._tcp.db.default.svc.cluster.local.", qtype: dns.TypeSRV,
		answer: "SRV 0 50 5432 10-42-1-6.db.default.svc.cluster.local., SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
		extra:  "A 10.42.0.5, A 10.42.1.6"},
	{name: "SRV name asked for A is NODATA", qname: "_http._tcp.foo.default.svc.cluster.local.", qtype: dns.TypeA},
	{name: "SRV of an unknown port", qname: "_nope._tcp.foo.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError},
	{name: "SRV of a known port with another protocol", qname: "_http._udp.foo.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError},
	{name: "SRV of a headless service without endpoints", qname: "_pg._tcp.empty.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError},
	{name: "SRV labels without underscores", qname: "http.tcp.foo.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError},

	// ExternalName.
	{name: "ExternalName A is a CNAME", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA, answer: "CNAME example.org."},
	{name: "ExternalName CNAME", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeCNAME, answer: "CNAME example.org."},
	{name: "ExternalName MX is a CNAME too", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeMX, answer: "CNAME example.org."},
	{name: "ExternalName has no endpoints", qname: "x.ext.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "ExternalName of an IP has no record (as CoreDNS)", qname: "byip.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},

	// Pods.
	{name: "pod A", qname: "10-42-0-9.default.pod.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.0.9"},
	{name: "pod AAAA of an IPv4 pod is NODATA", qname: "10-42-0-9.default.pod.cluster.local.", qtype: dns.TypeAAAA},
	{name: "pod IPv6", qname: "fd00-42--9.default.pod.cluster.local.", qtype: dns.TypeAAAA, answer: "AAAA fd00:42::9"},
	{name: "bad pod name", qname: "x-y.default.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "pod name out of range", qname: "10-42-0-999.default.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "pod namespace is NODATA", qname: "default.pod.cluster.local.", qtype: dns.TypeA},
	{name: "below a pod name", qname: "x.10-42-0-9.default.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},

	// Reverse.
	{name: "PTR of a service IP", qname: "20.0.43.10.in-addr.arpa.", qtype: dns.TypePTR, answer: "PTR foo.default.svc.cluster.local."},
	{name: "PTR of a service IPv6", qname: "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR,
		answer: "PTR dual.default.svc.cluster.local."},
	{name: "PTR of a headless endpoint with hostname", qname: "5.0.42.10.in-addr.arpa.", qtype: dns.TypePTR, answer: "PTR db-0.db.default.svc.cluster.local."},
	{name: "PTR of a headless endpoint, once", qname: "6.1.42.10.in-addr.arpa.", qtype: dns.TypePTR, answer: "PTR 10-42-1-6.db.default.svc.cluster.local."},
	{name: "PTR of a cluster IP service's endpoint", qname: "9.3.42.10.in-addr.arpa.", qtype: dns.TypePTR, answer: "PTR 10-42-3-9.foo.default.svc.cluster.local."},
	{name: "PTR of an IPv6 endpoint", qname: "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.4.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR,
		answer: "PTR fd00-42--5.v6.default.svc.cluster.local."},
	{name: "PTR name asked for A is NODATA", qname: "20.0.43.10.in-addr.arpa.", qtype: dns.TypeA},
	{name: "PTR of a not-ready endpoint is forwarded", qname: "7.1.42.10.in-addr.arpa.", qtype: dns.TypePTR, forwd: true},
	{name: "PTR elsewhere is forwarded", qname: "1.1.168.192.in-addr.arpa.", qtype: dns.TypePTR, forwd: true},
	{name: "PTR of a network is forwarded", qname: "43.10.in-addr.arpa.", qtype: dns.TypePTR, forwd: true},
	{name: "PTR with leading zeros is forwarded", qname: "020.0.43.10.in-addr.arpa.", qtype: dns.TypePTR, forwd: true},

	// The zone itself.
	{name: "zone SOA", qname: "cluster.local.", qtype: dns.TypeSOA, answer: "SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"},
	{name: "zone NS", qname: "cluster.local.", qtype: dns.TypeNS, answer: "NS ns.dns.cluster.local."},
	{name: "zone A is NODATA", qname: "cluster.local.", qtype: dns.TypeA},
	{name: "svc is NODATA", qname: "svc.cluster.local.", qtype: dns.TypeA},
	{name: "schema version", qname: "dns-version.cluster.local.", qtype: dns.TypeTXT, answer: `TXT "1.1.0"`},
	{name: "unknown name in the zone", qname: "what.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "other names are forwarded", qname: "example.org.", qtype: dns.TypeA, forwd: true},
	{name: "a zone's lookalike is forwarded", qname: "notcluster.local.", qtype: dns.TypeA, forwd: true},
}

func TestResolve(t *testing.T) {
	r := NewResolver(testSource(), "cluster.local")
	for _, tc := range resolveCases {
		t.Run(tc.name, func(t *testing.T) {
			ans := r.Resolve(dns.Question{Name: tc.qname, Qtype: tc.qtype, Qclass: dns.ClassINET})
			checkAnswer(t, tc, ans.Handled, ans.Rcode, ans.Answer, ans.Ns, ans.Extra)
		})
	}
}

// checkAnswer compares an answer with what tc expects, in the form both the resolver
// and the server give it.
func checkAnswer(t *testing.T, tc resolveCase, handled bool, rcode int, answer, ns, extra []dns.RR) {
	t.Helper()
	if handled == tc.forwd {
		t.Fatalf("handled = %v, want %v", handled, !tc.forwd)
	}
	if tc.forwd {
		return
	}
	if rcode != tc.rcode {
		t.Errorf("rcode = %s, want %s", dns.RcodeToString[rcode], dns.RcodeToString[tc.rcode])
	}
	if got := values(answer); got != tc.answer {
		t.Errorf("answer = %q, want %q", got, tc.answer)
	}
	if got := values(extra); got != tc.extra {
		t.Errorf("extra = %q, want %q", got, tc.extra)
	}
	for _, rr := range answer {
		if rr.Header().Name != tc.qname {
			t.Errorf("record name %q, want the question's %q", rr.Header().Name, tc.qname)
		}
	}
	for _, rr := range append(append(append([]dns.RR{}, answer...), ns...), extra...) {
		if rr.Header().Ttl != DefaultTTL {
			t.Errorf("TTL of %s = %d, want %d", rr, rr.Header().Ttl, DefaultTTL)
		}
	}
	if len(answer) == 0 {
		// NXDOMAIN and NODATA carry the zone's SOA, whose minimum is the negative TTL.
		if len(ns) != 1 || ns[0].Header().Rrtype != dns.TypeSOA || ns[0].(*dns.SOA).Minttl != DefaultTTL {
			t.Errorf("negative answer authority = %v, want the zone SOA", ns)
		}
	} else if len(ns) != 0 {
		t.Errorf("positive answer with authority %v", ns)
	}
}

func TestResolveOtherDomain(t *testing.T) {
	r := NewResolver(testSource(), "Berth.Internal")
	ans := r.Resolve(dns.Question{Name: "foo.default.svc.berth.internal.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if got := values(ans.Answer); got != "A 10.43.0.20" {
		t.Errorf("answer = %q", got)
	}
	if ans := r.Resolve(dns.Question{Name: "foo.default.svc.cluster.local.", Qtype: dns.TypeA}); ans.Handled {
		t.Errorf("cluster.local answered under another domain: %+v", ans)
	}
}

func TestReverseAddress(t *testing.T) {
	for name, want := range map[string]string{
		"1.0.43.10.in-addr.arpa.":            "10.43.0.1",
		"255.255.255.255.in-addr.arpa.":      "255.255.255.255",
		"256.0.43.10.in-addr.arpa.":          "",
		"1.0.43.in-addr.arpa.":               "",
		"1.1.0.43.10.in-addr.arpa.":          "",
		"01.0.43.10.in-addr.arpa.":           "",
		".0.43.10.in-addr.arpa.":             "",
		mustReverse("2001:db8::1"):           "2001:db8::1",
		mustReverse("fd00::ab:cdef"):         "fd00::ab:cdef",
		"g" + mustReverse("2001:db8::1")[1:]: "",
		"0.0.8.b.d.0.1.0.0.2.ip6.arpa.":      "",
	} {
		addr, ok := reverseAddress(name)
		got := ""
		if ok {
			got = addr.String()
		}
		if got != want {
			t.Errorf("reverseAddress(%q) = %q, want %q", name, got, want)
		}
	}
}

func mustReverse(ip string) string {
	name, err := dns.ReverseAddr(ip)
	if err != nil {
		panic(err)
	}
	return name
}
