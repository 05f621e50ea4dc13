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

// staticSource is a Source over fixed objects.
type staticSource struct {
	services []*corev1.Service
	slices   []*discoveryv1.EndpointSlice
}

func (s staticSource) Service(ns, name string) (*corev1.Service, bool) {
	for _, svc := range s.services {
		if svc.Namespace == ns && svc.Name == name {
			return svc, true
		}
	}
	return nil, false
}

func (s staticSource) EndpointSlices(ns, svc string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, sl := range s.slices {
		if sl.Namespace == ns && sl.Labels[discoveryv1.LabelServiceName] == svc {
			out = append(out, sl)
		}
	}
	return out
}

func (s staticSource) ServicesByIP(ip string) []*corev1.Service {
	var out []*corev1.Service
	for _, svc := range s.services {
		for _, c := range svc.Spec.ClusterIPs {
			if c == ip {
				out = append(out, svc)
			}
		}
	}
	return out
}

func (s staticSource) EndpointSlicesByAddress(ip string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, sl := range s.slices {
		for _, ep := range sl.Endpoints {
			for _, a := range ep.Addresses {
				if a == ip {
					out = append(out, sl)
				}
			}
		}
	}
	return out
}

func (s staticSource) NamespaceHasServices(ns string) bool {
	for _, svc := range s.services {
		if svc.Namespace == ns {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func testSource() staticSource {
	return staticSource{
		services: []*corev1.Service{
			{ObjectMeta: metav1.ObjectMeta{Name: "foo", Namespace: "default"}, Spec: corev1.ServiceSpec{
				ClusterIP: "10.43.0.20", ClusterIPs: []string{"10.43.0.20"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
			}},
			{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"}, Spec: corev1.ServiceSpec{
				ClusterIP: "None", ClusterIPs: []string{"None"},
				Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
			}},
			{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "default"}, Spec: corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}},
		},
		slices: []*discoveryv1.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Name: "db-abc", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("pg"), Port: ptr[int32](5432), Protocol: ptr(corev1.ProtocolTCP)}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.42.0.5"}, Hostname: ptr("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
				{Addresses: []string{"10.42.1.6"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
				{Addresses: []string{"10.42.1.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
			},
		}},
	}
}

// values renders answer records as their data, sorted, for comparison.
func values(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		parts := strings.Split(rr.String(), "\t")
		out = append(out, dns.TypeToString[rr.Header().Rrtype]+" "+parts[len(parts)-1])
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func TestResolve(t *testing.T) {
	r := NewResolver(testSource(), "cluster.local")
	cases := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer string
		extra  string
		forwd  bool
	}{
		{name: "service A", qname: "foo.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.43.0.20"},
		{name: "case insensitive", qname: "FOO.Default.SVC.cluster.local.", qtype: dns.TypeA, answer: "A 10.43.0.20"},
		{name: "service AAAA is NODATA", qname: "foo.default.svc.cluster.local.", qtype: dns.TypeAAAA},
		{name: "missing service is NXDOMAIN", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "namespace with services is NODATA", qname: "default.svc.cluster.local.", qtype: dns.TypeA},
		{name: "namespace without services is NXDOMAIN", qname: "other.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "headless lists ready pods", qname: "db.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.0.5, A 10.42.1.6"},
		{name: "headless without endpoints", qname: "empty.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "headless endpoint by hostname", qname: "db-0.db.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.0.5"},
		{name: "headless endpoint by dashed IP", qname: "10-42-1-6.db.default.svc.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.1.6"},
		{name: "SRV of a ClusterIP port", qname: "_http._tcp.foo.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: "SRV 0 100 80 foo.default.svc.cluster.local.", extra: "A 10.43.0.20"},
		{name: "SRV of a headless port", qname: "_pg._tcp.db.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: "SRV 0 100 5432 10-42-1-6.db.default.svc.cluster.local., SRV 0 100 5432 db-0.db.default.svc.cluster.local.", extra: "A 10.42.0.5, A 10.42.1.6"},
		{name: "SRV of an unknown port", qname: "_nope._tcp.foo.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError},
		{name: "ExternalName is a CNAME", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA, answer: "CNAME example.org."},
		{name: "pod A", qname: "10-42-0-9.default.pod.cluster.local.", qtype: dns.TypeA, answer: "A 10.42.0.9"},
		{name: "bad pod name", qname: "x-y.default.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "PTR of a service IP", qname: "20.0.43.10.in-addr.arpa.", qtype: dns.TypePTR, answer: "PTR foo.default.svc.cluster.local."},
		{name: "PTR of a headless endpoint", qname: "5.0.42.10.in-addr.arpa.", qtype: dns.TypePTR, answer: "PTR db-0.db.default.svc.cluster.local."},
		{name: "PTR elsewhere is forwarded", qname: "1.1.168.192.in-addr.arpa.", qtype: dns.TypePTR, forwd: true},
		{name: "other names are forwarded", qname: "example.org.", qtype: dns.TypeA, forwd: true},
		{name: "zone SOA", qname: "cluster.local.", qtype: dns.TypeSOA, answer: "SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ans := r.Resolve(dns.Question{Name: tc.qname, Qtype: tc.qtype, Qclass: dns.ClassINET})
			if ans.Handled == tc.forwd {
				t.Fatalf("handled = %v, want %v", ans.Handled, !tc.forwd)
			}
			if tc.forwd {
				return
			}
			if ans.Rcode != tc.rcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[ans.Rcode], dns.RcodeToString[tc.rcode])
			}
			if got := values(ans.Answer); got != tc.answer {
				t.Errorf("answer = %q, want %q", got, tc.answer)
			}
			if got := values(ans.Extra); got != tc.extra {
				t.Errorf("extra = %q, want %q", got, tc.extra)
			}
			if len(ans.Answer) == 0 && len(ans.Ns) == 0 {
				t.Errorf("negative answer without SOA")
			}
		})
	}
}
