package simulated

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"sync"
)

// podIPs hands out pod IPs from each node's pod CIDR, as a node's IPAM plugin would:
// the network and first (gateway) addresses and the IPv4 broadcast address are never
// used, and an address stays taken until its pod is gone.
type podIPs struct {
	mu     sync.Mutex
	byNode map[string]*nodeIPs
	byPod  map[string]podAddr // pod key → address
}

type nodeIPs struct {
	cidr netip.Prefix
	used map[netip.Addr]string // address → pod key
	next uint64                // offset where the next search starts
}

type podAddr struct {
	node string
	addr netip.Addr
}

func newPodIPs() *podIPs {
	return &podIPs{byNode: map[string]*nodeIPs{}, byPod: map[string]podAddr{}}
}

// nodeLocked returns the node's table for cidr. A table made by reserve before the
// CIDR was known adopts it; a different CIDR (the node was deleted and registered again)
// starts a fresh table.
func (p *podIPs) nodeLocked(node string, cidr netip.Prefix) *nodeIPs {
	n := p.byNode[node]
	switch {
	case n != nil && n.cidr == cidr:
	case n != nil && !n.cidr.IsValid():
		n.cidr = cidr
		for addr, key := range n.used {
			if !cidr.Contains(addr) {
				delete(n.used, addr)
				delete(p.byPod, key)
			}
		}
	default:
		if n != nil {
			for _, key := range n.used {
				delete(p.byPod, key)
			}
		}
		n = &nodeIPs{cidr: cidr, used: map[netip.Addr]string{}, next: 2}
		p.byNode[node] = n
	}
	return n
}

// reserve records an address a pod already has (from its status, after a restart).
func (p *podIPs) reserve(node, podKey, ip string) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byPod[podKey]; ok {
		return
	}
	n := p.byNode[node]
	if n == nil {
		n = &nodeIPs{used: map[netip.Addr]string{}, next: 2}
		p.byNode[node] = n
	}
	if _, taken := n.used[addr]; taken || (n.cidr.IsValid() && !n.cidr.Contains(addr)) {
		return
	}
	n.used[addr] = podKey
	p.byPod[podKey] = podAddr{node: node, addr: addr}
}

// assign returns the pod's address on node, taking a free one from cidr when it has none.
func (p *podIPs) assign(node, cidr, podKey string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("node %s pod CIDR %q: %w", node, cidr, err)
	}
	prefix = prefix.Masked()
	p.mu.Lock()
	defer p.mu.Unlock()
	if have, ok := p.byPod[podKey]; ok {
		if have.node == node && prefix.Contains(have.addr) {
			return have.addr, nil
		}
		p.releaseLocked(podKey)
	}
	n := p.nodeLocked(node, prefix)
	hostBits := prefix.Addr().BitLen() - prefix.Bits()
	size := uint64(1) << min(hostBits, 20) // searching more than a million addresses is pointless
	last := size - 1                       // IPv4 broadcast; for IPv6 just one address unused
	if last <= 2 {
		return netip.Addr{}, fmt.Errorf("node %s: pod CIDR %s has no room for pods", node, prefix)
	}
	usable := last - 2 // offsets 2 .. last-1
	for i := uint64(0); i < usable; i++ {
		off := 2 + (n.next-2+i)%usable
		addr := addOffset(prefix.Addr(), off)
		if _, taken := n.used[addr]; taken {
			continue
		}
		n.used[addr] = podKey
		n.next = off + 1
		p.byPod[podKey] = podAddr{node: node, addr: addr}
		return addr, nil
	}
	return netip.Addr{}, fmt.Errorf("node %s: no free pod IP in %s", node, prefix)
}

// release frees the pod's address.
func (p *podIPs) release(podKey string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(podKey)
}

func (p *podIPs) releaseLocked(podKey string) {
	have, ok := p.byPod[podKey]
	if !ok {
		return
	}
	delete(p.byPod, podKey)
	if n := p.byNode[have.node]; n != nil && n.used[have.addr] == podKey {
		delete(n.used, have.addr)
	}
}

// addOffset returns a + off.
func addOffset(a netip.Addr, off uint64) netip.Addr {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var carry uint64
	lo, carry = bits.Add64(lo, off, 0)
	hi += carry
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}
