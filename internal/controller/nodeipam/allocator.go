package nodeipam

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// defaultIPv6MaskSize is the per-node subnet of an IPv6 cluster CIDR (Kubernetes' default).
const defaultIPv6MaskSize = 64

// Allocator owns the pod CIDR table: which subnet belongs to which node. One subnet per
// cluster CIDR (per IP family, for dual stack) goes to each node. Safe for concurrent use.
type Allocator struct {
	mu     sync.Mutex
	sets   []*cidrSet
	byNode map[string][]netip.Prefix
	owner  map[netip.Prefix]string
}

// NewAllocator parses clusterCIDRs ("10.42.0.0/16" or a comma-separated dual-stack pair)
// and the IPv4 per-node mask size (IPv6 subnets are /64).
func NewAllocator(clusterCIDRs string, maskSizeV4 int) (*Allocator, error) {
	a := &Allocator{byNode: map[string][]netip.Prefix{}, owner: map[netip.Prefix]string{}}
	families := map[bool]bool{}
	for _, raw := range strings.Split(clusterCIDRs, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		p, err := netip.ParsePrefix(raw)
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR %q: %w", raw, err)
		}
		is4 := p.Addr().Is4()
		if families[is4] {
			return nil, fmt.Errorf("cluster CIDR %q: at most one CIDR per IP family", clusterCIDRs)
		}
		families[is4] = true
		mask := maskSizeV4
		if !is4 {
			mask = defaultIPv6MaskSize
		}
		set, err := newCIDRSet(p, mask)
		if err != nil {
			return nil, err
		}
		a.sets = append(a.sets, set)
	}
	if len(a.sets) == 0 {
		return nil, fmt.Errorf("no cluster CIDR given")
	}
	return a, nil
}

// OccupyResult says what Occupy found.
type OccupyResult struct {
	// Conflict names another node that already holds one of the CIDRs.
	Conflict string
}

// Occupy records CIDRs a node already has (rebuilding the table from existing nodes).
// CIDRs outside the cluster CIDRs are ignored (an operator may set them by hand).
func (a *Allocator) Occupy(node string, cidrs []string) (OccupyResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var mine []netip.Prefix
	for _, raw := range cidrs {
		p, err := netip.ParsePrefix(raw)
		if err != nil {
			return OccupyResult{}, fmt.Errorf("node %s pod CIDR %q: %w", node, raw, err)
		}
		if other, ok := a.owner[p]; ok && other != node {
			return OccupyResult{Conflict: other}, nil
		}
		for _, s := range a.sets {
			if s.cluster.Contains(p.Addr()) {
				if err := s.occupy(p); err != nil {
					return OccupyResult{}, fmt.Errorf("node %s: %w", node, err)
				}
				mine = append(mine, p)
			}
		}
	}
	a.releaseLocked(node, mine)
	for _, p := range mine {
		a.owner[p] = node
	}
	a.byNode[node] = mine
	return OccupyResult{}, nil
}

// Allocate returns the node's CIDRs, one per cluster CIDR, taking new ones when it has
// none yet; calling it again for the same node returns the same CIDRs.
func (a *Allocator) Allocate(node string) ([]netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if have := a.byNode[node]; len(have) == len(a.sets) {
		return have, nil
	}
	a.releaseLocked(node, nil)
	out := make([]netip.Prefix, 0, len(a.sets))
	for _, s := range a.sets {
		p, err := s.allocateNext()
		if err != nil {
			for i, q := range out {
				a.sets[i].release(q)
			}
			return nil, err
		}
		out = append(out, p)
	}
	for _, p := range out {
		a.owner[p] = node
	}
	a.byNode[node] = out
	return out, nil
}

// Release frees the node's CIDRs.
func (a *Allocator) Release(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(node, nil)
}

// releaseLocked frees the node's CIDRs except keep.
func (a *Allocator) releaseLocked(node string, keep []netip.Prefix) {
	for _, p := range a.byNode[node] {
		if containsPrefix(keep, p) {
			continue
		}
		delete(a.owner, p)
		for _, s := range a.sets {
			s.release(p)
		}
	}
	delete(a.byNode, node)
}

// InUse returns how many subnets are taken in each cluster CIDR, in order.
func (a *Allocator) InUse() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int, len(a.sets))
	for i, s := range a.sets {
		out[i] = s.inUse
	}
	return out
}

func containsPrefix(list []netip.Prefix, p netip.Prefix) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}
