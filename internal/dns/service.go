package dns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// service answers names under svc.<zone>: <ns>, <svc>.<ns>, <endpoint>.<svc>.<ns>,
// _<port>._<proto>.<svc>.<ns>.
func (r *Resolver) service(q dns.Question, labels []string) Answer {
	n := len(labels)
	switch n {
	case 0:
		return r.noData()
	case 1:
		// Namespaces are not watched: one with services is known to exist.
		if r.src.NamespaceHasServices(labels[0]) {
			return r.noData()
		}
		return r.nxdomain()
	}
	if n > 4 {
		return r.nxdomain()
	}
	ns, svcName := labels[n-1], labels[n-2]
	svc, ok := r.src.Service(ns, svcName)
	if !ok {
		return r.nxdomain()
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if n != 2 {
			return r.nxdomain() // an ExternalName service has no endpoints or ports
		}
		return r.externalName(q, svc)
	}
	switch n {
	case 2:
		return r.serviceRecords(q, svc)
	case 3:
		return r.endpointRecords(q, svc, labels[0])
	}
	if strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") {
		return r.portRecords(q, svc, labels[0][1:], labels[1][1:])
	}
	return r.nxdomain()
}

// externalName answers with a CNAME to the external name, whatever the type asked
// (RFC 1034 §3.6.2); the server follows it for address questions. A name that is an IP
// address has no CNAME form and, as in CoreDNS, no record.
func (r *Resolver) externalName(q dns.Question, svc *corev1.Service) Answer {
	target := strings.ToLower(svc.Spec.ExternalName)
	if _, err := netip.ParseAddr(target); err == nil || target == "" {
		return r.nxdomain()
	}
	return r.answer(&dns.CNAME{Hdr: r.hdr(q.Name, dns.TypeCNAME), Target: dns.Fqdn(target)})
}

// published reports whether DNS lists ep: ready, or any with publishNotReadyAddresses.
func published(svc *corev1.Service, ep *discoveryv1.Endpoint) bool {
	return svc.Spec.PublishNotReadyAddresses || ep.Conditions.Ready == nil || *ep.Conditions.Ready
}

// endpointAddress is one published address of a service's endpoints.
type endpointAddress struct {
	addr  netip.Addr
	ep    *discoveryv1.Endpoint
	slice *discoveryv1.EndpointSlice
}

// label is the DNS label naming the address under its service.
func (e endpointAddress) label() string { return endpointLabel(e.ep, e.addr) }

// serviceFQDN is the name of svc, the target of its SRV records.
func (r *Resolver) serviceFQDN(svc *corev1.Service) string {
	return svc.Name + "." + svc.Namespace + ".svc." + r.zone
}

// endpointAddresses lists the published addresses of a service's endpoints, each once
// (an endpoint is in two slices for a while when slices are rebalanced).
func (r *Resolver) endpointAddresses(svc *corev1.Service) []endpointAddress {
	var out []endpointAddress
	var seen map[netip.Addr]bool // only for services big enough to need it
	for _, slice := range r.src.EndpointSlices(svc.Namespace, svc.Name) {
		for i := range slice.Endpoints {
			ep := &slice.Endpoints[i]
			if !published(svc, ep) {
				continue
			}
			for _, text := range ep.Addresses {
				addr, err := netip.ParseAddr(text)
				if err != nil {
					continue
				}
				addr = addr.Unmap()
				if seen == nil && len(out) >= 32 {
					seen = make(map[netip.Addr]bool, 2*len(out))
					for _, e := range out {
						seen[e.addr] = true
					}
				}
				if seen != nil {
					if seen[addr] {
						continue
					}
					seen[addr] = true
				} else if containsAddr(out, addr) {
					continue
				}
				out = append(out, endpointAddress{addr: addr, ep: ep, slice: slice})
			}
		}
	}
	return out
}

func containsAddr(eps []endpointAddress, addr netip.Addr) bool {
	for _, e := range eps {
		if e.addr == addr {
			return true
		}
	}
	return false
}

// endpointLabel names an endpoint address under its service: the endpoint's hostname,
// or the address with dashes (CoreDNS's endpointHostname).
func endpointLabel(ep *discoveryv1.Endpoint, addr netip.Addr) string {
	if ep.Hostname != nil && *ep.Hostname != "" {
		return strings.ToLower(*ep.Hostname)
	}
	return dashed(addr)
}

func dashed(addr netip.Addr) string {
	if addr.Is4() {
		return strings.ReplaceAll(addr.String(), ".", "-")
	}
	return strings.ReplaceAll(addr.String(), ":", "-")
}

// serviceRecords answers <svc>.<ns>.svc.<zone>: the cluster IPs, or for a headless
// service the published endpoint addresses; SRV lists every port.
func (r *Resolver) serviceRecords(q dns.Question, svc *corev1.Service) Answer {
	var eps []endpointAddress
	if isHeadless(svc) {
		eps = r.endpointAddresses(svc)
		if len(eps) == 0 {
			return r.nxdomain() // a headless service without endpoints has no name, as in CoreDNS
		}
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
	case dns.TypeSRV:
		var ans Answer
		fqdn := r.serviceFQDN(svc)
		for _, p := range svc.Spec.Ports {
			ans = r.appendSRV(ans, q.Name, svc, fqdn, p, eps)
		}
		return r.srvAnswer(ans)
	default:
		return r.noData()
	}
	if isHeadless(svc) {
		return r.addresses(r.addressRecords(q.Name, len(eps), func(i int) netip.Addr { return eps[i].addr }, q.Qtype))
	}
	ips := svc.Spec.ClusterIPs
	return r.addresses(r.addressRecords(q.Name, len(ips), func(i int) netip.Addr {
		addr, _ := netip.ParseAddr(ips[i]) // the zero Addr, which has no record, if it does not parse
		return addr.Unmap()
	}, q.Qtype))
}

// addressRecords makes the A or AAAA records (as qtype asks) of n addresses, with a
// few allocations for all of them: headless services can have hundreds.
func (r *Resolver) addressRecords(name string, n int, addr func(int) netip.Addr, qtype uint16) []dns.RR {
	wantA := qtype == dns.TypeA || qtype == dns.TypeANY
	wantAAAA := qtype == dns.TypeAAAA || qtype == dns.TypeANY
	var v4, v6 int
	for i := range n {
		switch a := addr(i); {
		case a.Is4() && wantA:
			v4++
		case a.Is6() && wantAAAA:
			v6++
		}
	}
	if v4+v6 == 0 {
		return nil
	}
	rrs := make([]dns.RR, 0, v4+v6)
	as, ip4 := make([]dns.A, v4), make([]byte, 4*v4)
	aaaas, ip6 := make([]dns.AAAA, v6), make([]byte, 16*v6)
	for i := range n {
		switch a := addr(i); {
		case a.Is4() && wantA:
			b := a.As4()
			ip := ip4[:4:4]
			ip4 = ip4[4:]
			copy(ip, b[:])
			rr := &as[0]
			as = as[1:]
			rr.Hdr, rr.A = r.hdr(name, dns.TypeA), ip
			rrs = append(rrs, rr)
		case a.Is6() && wantAAAA:
			b := a.As16()
			ip := ip6[:16:16]
			ip6 = ip6[16:]
			copy(ip, b[:])
			rr := &aaaas[0]
			aaaas = aaaas[1:]
			rr.Hdr, rr.AAAA = r.hdr(name, dns.TypeAAAA), ip
			rrs = append(rrs, rr)
		}
	}
	return rrs
}

// endpointRecords answers <endpoint>.<svc>.<ns>.svc.<zone>, where endpoint is a
// hostname (hostname/subdomain pods) or a dashed address. CoreDNS answers these for
// services with a cluster IP too, and so do we.
func (r *Resolver) endpointRecords(q dns.Question, svc *corev1.Service, label string) Answer {
	var named []netip.Addr
	for _, ep := range r.endpointAddresses(svc) {
		if ep.label() == label {
			named = append(named, ep.addr)
		}
	}
	if len(named) == 0 {
		return r.nxdomain()
	}
	return r.addresses(r.addressRecords(q.Name, len(named), func(i int) netip.Addr { return named[i] }, q.Qtype))
}

// portRecords answers _<port>._<proto>.<svc>.<ns>.svc.<zone>, which exists when the
// service has a port of that name and protocol.
func (r *Resolver) portRecords(q dns.Question, svc *corev1.Service, portName, proto string) Answer {
	var eps []endpointAddress
	if isHeadless(svc) {
		if eps = r.endpointAddresses(svc); len(eps) == 0 {
			return r.nxdomain()
		}
	}
	exists := false
	var ans Answer
	for _, p := range svc.Spec.Ports {
		if !strings.EqualFold(p.Name, portName) || !strings.EqualFold(string(p.Protocol), proto) {
			continue
		}
		exists = true
		if q.Qtype == dns.TypeSRV || q.Qtype == dns.TypeANY {
			ans = r.appendSRV(ans, q.Name, svc, r.serviceFQDN(svc), p, eps)
		}
	}
	if !exists {
		return r.nxdomain()
	}
	return r.srvAnswer(ans)
}

// appendSRV adds the SRV records of one service port, and the addresses of their
// targets as extras: the service name for a cluster IP, each endpoint for headless.
func (r *Resolver) appendSRV(ans Answer, qname string, svc *corev1.Service, fqdn string, p corev1.ServicePort, eps []endpointAddress) Answer {
	if !isHeadless(svc) {
		ans.Answer = append(ans.Answer, &dns.SRV{Hdr: r.hdr(qname, dns.TypeSRV), Port: uint16(p.Port), Target: fqdn})
		for _, ip := range svc.Spec.ClusterIPs {
			if rr := r.textAddressRR(fqdn, ip, dns.TypeANY); rr != nil {
				ans.Extra = appendUnique(ans.Extra, rr)
			}
		}
		return ans
	}
	for _, ep := range eps {
		for _, sp := range ep.slice.Ports {
			if sp.Port == nil || !samePortName(sp.Name, p.Name) || !sameProtocol(sp.Protocol, p.Protocol) {
				continue
			}
			target := ep.label() + "." + fqdn
			ans.Answer = append(ans.Answer, &dns.SRV{Hdr: r.hdr(qname, dns.TypeSRV), Port: uint16(*sp.Port), Target: target})
			ans.Extra = appendUnique(ans.Extra, r.addressRR(target, ep.addr, dns.TypeANY))
		}
	}
	return ans
}

// srvAnswer finishes SRV records: all have priority 0 and share a weight of 100 as
// CoreDNS does (each gets ⌊100/n⌋). None is NODATA: the name exists.
func (r *Resolver) srvAnswer(ans Answer) Answer {
	if len(ans.Answer) == 0 {
		return r.noData()
	}
	weight := uint16(100 / len(ans.Answer))
	for _, rr := range ans.Answer {
		rr.(*dns.SRV).Weight = weight
	}
	ans.Handled = true
	return ans
}

func samePortName(slicePort *string, servicePort string) bool {
	if slicePort == nil {
		return servicePort == ""
	}
	return *slicePort == servicePort
}

func sameProtocol(slicePort *corev1.Protocol, servicePort corev1.Protocol) bool {
	if servicePort == "" {
		servicePort = corev1.ProtocolTCP
	}
	if slicePort == nil {
		return servicePort == corev1.ProtocolTCP
	}
	return *slicePort == servicePort
}

// appendUnique appends rr unless rrs already holds an equal record.
func appendUnique(rrs []dns.RR, rr dns.RR) []dns.RR {
	if rr == nil {
		return rrs
	}
	for _, have := range rrs {
		if dns.IsDuplicate(have, rr) {
			return rrs
		}
	}
	return append(rrs, rr)
}
