package dns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// DefaultTTL is the TTL of cluster answers: short, since endpoints move (CoreDNS's default).
const DefaultTTL = 5

// dnsSchemaVersion is the Kubernetes DNS specification this resolver follows, served as
// TXT at dns-version.<zone>.
const dnsSchemaVersion = "1.1.0"

// Resolver answers questions for the cluster domain from a Source. It follows the
// Kubernetes DNS specification and, where that is silent, CoreDNS's kubernetes plugin
// (pods insecure, endpoint names for every service, PTR records for endpoints).
type Resolver struct {
	src  Source
	zone string // "cluster.local." (lower case, fully qualified)
	ttl  uint32
	soa  *dns.SOA
	ns   *dns.NS
	// nsAddr is the address of this server, the answer for ns.dns.<zone>; unset if unknown.
	nsAddr netip.Addr
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
	r.ns = &dns.NS{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: r.ttl}, Ns: "ns.dns." + zone}
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

// Resolve answers q. Record names are q.Name as asked (case preserved); matching is
// case-insensitive.
func (r *Resolver) Resolve(q dns.Question) Answer {
	name := strings.ToLower(q.Name)
	if strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.") {
		return r.reverse(q, name)
	}
	if name != r.zone && !strings.HasSuffix(name, "."+r.zone) {
		return Answer{}
	}
	rel := strings.TrimSuffix(strings.TrimSuffix(name, r.zone), ".")
	var buf [maxLabels]string
	labels, ok := splitLabels(rel, &buf)
	if !ok {
		return r.nxdomain() // deeper than any cluster name
	}
	// Read labels right to left: [..., svc|pod].
	n := len(labels)
	switch {
	case n == 0:
		return r.apex(q)
	case labels[n-1] == "svc":
		return r.service(q, labels[:n-1])
	case labels[n-1] == "pod":
		return r.pod(q, labels[:n-1])
	case n == 1 && labels[0] == "dns-version":
		if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
			return r.answer(&dns.TXT{Hdr: r.hdr(q.Name, dns.TypeTXT), Txt: []string{dnsSchemaVersion}})
		}
		return r.noData()
	case n == 1 && labels[0] == "dns":
		return r.noData() // the parent of ns.dns.<zone>
	case n == 2 && labels[0] == "ns" && labels[1] == "dns":
		if rr := r.addressRR(q.Name, r.nsAddr, q.Qtype); rr != nil {
			return r.answer(rr)
		}
		return r.noData()
	}
	return r.nxdomain()
}

// maxLabels is the depth of the deepest cluster name below the zone:
// _port._proto.service.namespace.svc.
const maxLabels = 5

// splitLabels splits a relative name into buf without allocating; ok is false when it
// has more than maxLabels labels.
func splitLabels(rel string, buf *[maxLabels]string) (labels []string, ok bool) {
	if rel == "" {
		return buf[:0], true
	}
	n := 0
	for {
		if n == maxLabels {
			return nil, false
		}
		dot := strings.IndexByte(rel, '.')
		if dot < 0 {
			buf[n] = rel
			return buf[:n+1], true
		}
		buf[n], rel = rel[:dot], rel[dot+1:]
		n++
	}
}

func (r *Resolver) apex(q dns.Question) Answer {
	switch q.Qtype {
	case dns.TypeSOA:
		return r.answer(r.soa)
	case dns.TypeNS:
		return r.answer(r.ns)
	case dns.TypeANY:
		return r.answer(r.soa, r.ns)
	}
	return r.noData()
}

func (r *Resolver) answer(rrs ...dns.RR) Answer {
	return Answer{Handled: true, Answer: rrs}
}

// nxdomain says the name does not exist, for any type.
func (r *Resolver) nxdomain() Answer {
	return Answer{Handled: true, Rcode: dns.RcodeNameError, Ns: []dns.RR{r.soa}}
}

// noData says the name exists but has no records of the asked type.
func (r *Resolver) noData() Answer {
	return Answer{Handled: true, Rcode: dns.RcodeSuccess, Ns: []dns.RR{r.soa}}
}

// addresses answers with rrs, or NODATA if the name has none of the asked type.
func (r *Resolver) addresses(rrs []dns.RR) Answer {
	if len(rrs) == 0 {
		return r.noData()
	}
	return Answer{Handled: true, Answer: rrs}
}

func (r *Resolver) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.ttl}
}

// addressRR returns an A or AAAA record for addr if it matches qtype (A, AAAA or ANY).
func (r *Resolver) addressRR(name string, addr netip.Addr, qtype uint16) dns.RR {
	switch {
	case addr.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
		return &dns.A{Hdr: r.hdr(name, dns.TypeA), A: addr.AsSlice()}
	case addr.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
		return &dns.AAAA{Hdr: r.hdr(name, dns.TypeAAAA), AAAA: addr.AsSlice()}
	}
	return nil
}

// textAddressRR is addressRR for an address in text form; nil if it does not parse.
func (r *Resolver) textAddressRR(name, ip string, qtype uint16) dns.RR {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	return r.addressRR(name, addr.Unmap(), qtype)
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// pod answers <a-b-c-d>.<ns>.pod.<zone> (and the dashed IPv6 form) with the address
// spelled in the name, without checking that such a pod exists, as CoreDNS's
// "pods insecure", the mode Kubernetes installs it with.
func (r *Resolver) pod(q dns.Question, labels []string) Answer {
	switch len(labels) {
	case 0, 1: // pod.<zone>, <ns>.pod.<zone>
		return r.noData()
	case 2:
	default:
		return r.nxdomain()
	}
	addr, ok := podAddress(labels[0])
	if !ok {
		return r.nxdomain()
	}
	if rr := r.addressRR(q.Name, addr, q.Qtype); rr != nil {
		return r.answer(rr)
	}
	return r.noData()
}

// podAddress reads the address of a pod name: 10-42-0-9, or 2001-db8--1 for IPv6.
func podAddress(label string) (netip.Addr, bool) {
	var text string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		text = strings.ReplaceAll(label, "-", ".")
	} else {
		text = strings.ReplaceAll(label, "-", ":")
	}
	addr, err := netip.ParseAddr(text)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}
