package dns

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// reverse answers PTR questions for service cluster IPs and, failing those, endpoint
// addresses (as CoreDNS does). Other addresses are not ours: they are forwarded, as
// CoreDNS's default "fallthrough in-addr.arpa ip6.arpa" does.
func (r *Resolver) reverse(q dns.Question, name string) Answer {
	addr, ok := reverseAddress(name)
	if !ok {
		return Answer{}
	}
	targets := r.reverseTargets(addr)
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

func (r *Resolver) reverseTargets(addr netip.Addr) []string {
	ip := addr.String()
	var targets []string
	for _, svc := range r.src.ServicesByIP(ip) {
		targets = append(targets, svc.Name+"."+svc.Namespace+".svc."+r.zone)
	}
	if len(targets) > 0 {
		return targets
	}
	for _, slice := range r.src.EndpointSlicesByAddress(ip) {
		svcName := slice.Labels[discoveryv1.LabelServiceName]
		svc, ok := r.src.Service(slice.Namespace, svcName)
		if !ok {
			continue
		}
		for i := range slice.Endpoints {
			ep := &slice.Endpoints[i]
			if !published(svc, ep) {
				continue
			}
			for _, text := range ep.Addresses {
				if a, err := netip.ParseAddr(text); err == nil && a.Unmap() == addr {
					t := endpointLabel(ep, addr) + "." + svcName + "." + slice.Namespace + ".svc." + r.zone
					if !containsString(targets, t) {
						targets = append(targets, t)
					}
				}
			}
		}
	}
	return targets
}

func containsString(list []string, s string) bool {
	for _, have := range list {
		if have == s {
			return true
		}
	}
	return false
}

// reverseAddress reads the address of a full reverse name: d.c.b.a.in-addr.arpa. or 32
// nibbles under ip6.arpa. (lower case). Partial names (a network) are not addresses.
func reverseAddress(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		var b [4]byte
		for i := 3; i >= 0; i-- {
			label := rest
			if i > 0 {
				dot := strings.IndexByte(rest, '.')
				if dot < 0 {
					return netip.Addr{}, false
				}
				label, rest = rest[:dot], rest[dot+1:]
			} else if strings.IndexByte(rest, '.') >= 0 {
				return netip.Addr{}, false
			}
			// Canonical decimal only, so that every address has one reverse name.
			if label == "" || len(label) > 3 || (len(label) > 1 && label[0] == '0') {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(label, 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			b[i] = byte(v)
		}
		return netip.AddrFrom4(b), true
	}
	rest, ok := strings.CutSuffix(name, ".ip6.arpa.")
	if !ok || len(rest) != 63 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := 0; i < 32; i++ {
		c := rest[2*i]
		if i < 31 && rest[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return netip.Addr{}, false
		}
		// Nibble i counts from the least significant end.
		pos := 31 - i
		if pos%2 == 0 {
			b[pos/2] |= v << 4
		} else {
			b[pos/2] |= v
		}
	}
	return netip.AddrFrom16(b), true
}
