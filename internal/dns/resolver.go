package dns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// DefaultTTL is the TTL of cluster answers: short, since endpoints move.
const DefaultTTL = 5

// Resolver answers questions for the cluster domain from a Source.
type Resolver struct {
	src    Source
	zone   string // "cluster.local." (lower case, fully qualified)
	ttl    uint32
	soa    *dns.SOA
	serial uint32
}

// NewResolver answers for domain (e.g. "cluster.local").
func NewResolver(src Source, domain string) *Resolver {
	zone := dns.Fqdn(strings.ToLower(domain))
	r := &Resolver{src: src, zone: zone, ttl: DefaultTTL}
	r.soa = &dns.SOA{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: r.ttl},
		Ns:  "ns.dns." + zone, Mbox: "hostmaster." + zone,
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: r.ttl,
	}
	return r
}

// Answer is the outcome of one question.
type Answer struct {
	// Handled is false when the name is outside the cluster's zones: forward it.
	Handled bool
	Rcode   int
	Answer  []dns.RR
	Extra   []dns.RR
	// Ns holds the SOA of negative answers.
	Ns []dns.RR
}

// Resolve answers q.
func (r *Resolver) Resolve(q dns.Question) Answer {
	name := strings.ToLower(q.Name)
	if strings.HasSuffix(name, ".in-addr.arpa.") {
		return r.reverse(q, name)
	}
	if name != r.zone && !strings.HasSuffix(name, "."+r.zone) {
		return Answer{}
	}
	rel := strings.TrimSuffix(strings.TrimSuffix(name, r.zone), ".")
	var labels []string
	if rel != "" {
		labels = strings.Split(rel, ".")
	}
	// Read labels right to left: [..., svc|pod].
	n := len(labels)
	switch {
	case n == 0:
		if q.Qtype == dns.TypeSOA {
			return Answer{Handled: true, Answer: []dns.RR{r.soa}}
		}
		return r.noData()
	case labels[n-1] == "svc":
		return r.service(q, labels[:n-1])
	case labels[n-1] == "pod":
		return r.pod(q, labels[:n-1])
	}
	return r.nxdomain()
}

func (r *Resolver) nxdomain() Answer {
	return Answer{Handled: true, Rcode: dns.RcodeNameError, Ns: []dns.RR{r.soa}}
}

func (r *Resolver) noData() Answer {
	return Answer{Handled: true, Rcode: dns.RcodeSuccess, Ns: []dns.RR{r.soa}}
}

// service answers names under svc.<zone>: <ns>, <svc>.<ns>, <endpoint>.<svc>.<ns>,
// _<port>._<proto>.<svc>.<ns>.
func (r *Resolver) service(q dns.Question, labels []string) Answer {
	n := len(labels)
	switch n {
	case 0:
		return r.noData()
	case 1:
		if r.src.NamespaceHasServices(labels[0]) {
			return r.noData()
		}
		return r.nxdomain()
	}
	ns, svcName := labels[n-1], labels[n-2]
	svc, ok := r.src.Service(ns, svcName)
	if !ok {
		return r.nxdomain()
	}
	svcFQDN := svcName + "." + ns + ".svc." + r.zone
	switch n {
	case 2:
		return r.serviceRecords(q, svc, svcFQDN)
	case 3:
		return r.endpointRecords(q, svc, svcFQDN, labels[0])
	case 4:
		if strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") {
			return r.srvRecords(q, svc, svcFQDN, labels[0][1:], labels[1][1:])
		}
	}
	return r.nxdomain()
}

func (r *Resolver) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.ttl}
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// addressRR returns an A or AAAA record for ip if it matches qtype (A, AAAA or ANY).
func (r *Resolver) addressRR(name, ip string, qtype uint16) dns.RR {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	if addr.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY) {
		return &dns.A{Hdr: r.hdr(name, dns.TypeA), A: addr.AsSlice()}
	}
	if addr.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY) {
		return &dns.AAAA{Hdr: r.hdr(name, dns.TypeAAAA), AAAA: addr.AsSlice()}
	}
	return nil
}

// readyEndpoints calls fn for each endpoint a headless service publishes.
func (r *Resolver) readyEndpoints(svc *corev1.Service, fn func(ep discoveryv1.Endpoint, slice *discoveryv1.EndpointSlice)) {
	for _, slice := range r.src.EndpointSlices(svc.Namespace, svc.Name) {
		for _, ep := range slice.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if ready || svc.Spec.PublishNotReadyAddresses {
				fn(ep, slice)
			}
		}
	}
}

func (r *Resolver) serviceRecords(q dns.Question, svc *corev1.Service, fqdn string) Answer {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY {
			return Answer{Handled: true, Answer: []dns.RR{&dns.CNAME{Hdr: r.hdr(q.Name, dns.TypeCNAME), Target: dns.Fqdn(svc.Spec.ExternalName)}}}
		}
		return r.noData()
	}
	if q.Qtype == dns.TypeSRV {
		var ans Answer
		ans.Handled = true
		for _, p := range svc.Spec.Ports {
			ans = r.appendSRV(ans, q.Name, svc, fqdn, p)
		}
		if len(ans.Answer) == 0 {
			return r.noData()
		}
		return ans
	}
	var rrs []dns.RR
	if isHeadless(svc) {
		seen := map[string]bool{}
		hasEndpoints := false
		r.readyEndpoints(svc, func(ep discoveryv1.Endpoint, _ *discoveryv1.EndpointSlice) {
			for _, ip := range ep.Addresses {
				hasEndpoints = true
				if seen[ip] {
					continue
				}
				seen[ip] = true
				if rr := r.addressRR(q.Name, ip, q.Qtype); rr != nil {
					rrs = append(rrs, rr)
				}
			}
		})
		if !hasEndpoints {
			return r.nxdomain() // a headless service without endpoints has no name, as CoreDNS
		}
	} else {
		for _, ip := range svc.Spec.ClusterIPs {
			if rr := r.addressRR(q.Name, ip, q.Qtype); rr != nil {
				rrs = append(rrs, rr)
			}
		}
	}
	if len(rrs) == 0 {
		return r.noData()
	}
	return Answer{Handled: true, Answer: rrs}
}

// endpointName is the DNS label of a headless endpoint: its hostname, or its dashed IP.
func endpointName(ep discoveryv1.Endpoint) string {
	if ep.Hostname != nil && *ep.Hostname != "" {
		return strings.ToLower(*ep.Hostname)
	}
	if len(ep.Addresses) == 0 {
		return ""
	}
	return strings.NewReplacer(".", "-", ":", "-").Replace(ep.Addresses[0])
}

func (r *Resolver) endpointRecords(q dns.Question, svc *corev1.Service, svcFQDN, label string) Answer {
	if !isHeadless(svc) {
		return r.nxdomain()
	}
	found := false
	var rrs []dns.RR
	r.readyEndpoints(svc, func(ep discoveryv1.Endpoint, _ *discoveryv1.EndpointSlice) {
		if endpointName(ep) != label {
			return
		}
		found = true
		for _, ip := range ep.Addresses {
			if rr := r.addressRR(q.Name, ip, q.Qtype); rr != nil {
				rrs = append(rrs, rr)
			}
		}
	})
	if !found {
		return r.nxdomain()
	}
	if len(rrs) == 0 {
		return r.noData()
	}
	return Answer{Handled: true, Answer: rrs}
}

func (r *Resolver) srvRecords(q dns.Question, svc *corev1.Service, svcFQDN, portName, proto string) Answer {
	ans := Answer{Handled: true}
	for _, p := range svc.Spec.Ports {
		if strings.ToLower(p.Name) != portName || strings.ToLower(string(p.Protocol)) != proto {
			continue
		}
		if q.Qtype != dns.TypeSRV && q.Qtype != dns.TypeANY {
			return r.noData()
		}
		ans = r.appendSRV(ans, q.Name, svc, svcFQDN, p)
	}
	if len(ans.Answer) == 0 {
		return r.nxdomain()
	}
	return ans
}

// appendSRV adds the SRV records (and their addresses as extras) of one service port.
func (r *Resolver) appendSRV(ans Answer, qname string, svc *corev1.Service, svcFQDN string, p corev1.ServicePort) Answer {
	if !isHeadless(svc) {
		ans.Answer = append(ans.Answer, &dns.SRV{Hdr: r.hdr(qname, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: svcFQDN})
		for _, ip := range svc.Spec.ClusterIPs {
			if rr := r.addressRR(svcFQDN, ip, dns.TypeANY); rr != nil {
				ans.Extra = append(ans.Extra, rr)
			}
		}
		return ans
	}
	r.readyEndpoints(svc, func(ep discoveryv1.Endpoint, slice *discoveryv1.EndpointSlice) {
		for _, sp := range slice.Ports {
			if sp.Port == nil || (sp.Name != nil && *sp.Name != p.Name) || (sp.Name == nil && p.Name != "") {
				continue
			}
			target := endpointName(ep) + "." + svcFQDN
			ans.Answer = append(ans.Answer, &dns.SRV{Hdr: r.hdr(qname, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(*sp.Port), Target: target})
			for _, ip := range ep.Addresses {
				if rr := r.addressRR(target, ip, dns.TypeANY); rr != nil {
					ans.Extra = append(ans.Extra, rr)
				}
			}
		}
	})
	return ans
}

// pod answers <a-b-c-d>.<ns>.pod.<zone> with the address spelled in the name.
func (r *Resolver) pod(q dns.Question, labels []string) Answer {
	if len(labels) != 2 {
		if len(labels) < 2 {
			return r.noData()
		}
		return r.nxdomain()
	}
	ipText := strings.ReplaceAll(labels[0], "-", ".")
	addr, err := netip.ParseAddr(ipText)
	if err != nil || !addr.Is4() {
		return r.nxdomain()
	}
	if rr := r.addressRR(q.Name, addr.String(), q.Qtype); rr != nil {
		return Answer{Handled: true, Answer: []dns.RR{rr}}
	}
	return r.noData()
}

// reverse answers PTR questions for service cluster IPs and headless endpoints; other
// addresses are not ours and are forwarded.
func (r *Resolver) reverse(q dns.Question, name string) Answer {
	parts := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
	if len(parts) != 4 {
		return Answer{}
	}
	for i, j := 0, 3; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	ip := strings.Join(parts, ".")
	if _, err := netip.ParseAddr(ip); err != nil {
		return Answer{}
	}
	var targets []string
	for _, svc := range r.src.ServicesByIP(ip) {
		targets = append(targets, svc.Name+"."+svc.Namespace+".svc."+r.zone)
	}
	for _, slice := range r.src.EndpointSlicesByAddress(ip) {
		svcName := slice.Labels[discoveryv1.LabelServiceName]
		svc, ok := r.src.Service(slice.Namespace, svcName)
		if !ok || !isHeadless(svc) {
			continue
		}
		for _, ep := range slice.Endpoints {
			for _, a := range ep.Addresses {
				if a == ip {
					targets = append(targets, endpointName(ep)+"."+svcName+"."+slice.Namespace+".svc."+r.zone)
				}
			}
		}
	}
	if len(targets) == 0 {
		return Answer{}
	}
	if q.Qtype != dns.TypePTR && q.Qtype != dns.TypeANY {
		return r.noData()
	}
	ans := Answer{Handled: true}
	for _, t := range targets {
		ans.Answer = append(ans.Answer, &dns.PTR{Hdr: r.hdr(q.Name, dns.TypePTR), Ptr: t})
	}
	return ans
}
