package nodeipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
)

// ErrFull means every subnet of the cluster CIDR is taken.
var ErrFull = errors.New("no free pod CIDR left in the cluster CIDR")

// maxSubnetBits bounds the table: at most 2^16 subnets per cluster CIDR, as Kubernetes.
const maxSubnetBits = 16

// cidrSet hands out the equal-sized subnets of one cluster CIDR. It is not safe for
// concurrent use; the Allocator serialises access.
type cidrSet struct {
	cluster netip.Prefix
	subnet  int // prefix length of each subnet
	count   int // number of subnets
	used    []uint64
	inUse   int
	// next is where the search for a free subnet starts, so released subnets are not
	// handed out again at once (a stale pod IP on a new node would be confusing).
	next int
}

func newCIDRSet(cluster netip.Prefix, subnet int) (*cidrSet, error) {
	cluster = cluster.Masked()
	if subnet < cluster.Bits() || subnet > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("node CIDR mask size %d does not fit cluster CIDR %s", subnet, cluster)
	}
	if subnet-cluster.Bits() > maxSubnetBits {
		return nil, fmt.Errorf("node CIDR mask size %d is too big for cluster CIDR %s: at most %d subnets", subnet, cluster, 1<<maxSubnetBits)
	}
	count := 1 << (subnet - cluster.Bits())
	return &cidrSet{cluster: cluster, subnet: subnet, count: count, used: make([]uint64, (count+63)/64)}, nil
}

// shift is the number of host bits of one subnet, counted in a 128-bit address.
func (s *cidrSet) shift() uint {
	return uint(s.cluster.Addr().BitLen() - s.subnet) // host bits are the same in the 16-byte form
}

// subnetAt returns the i-th subnet.
func (s *cidrSet) subnetAt(i int) netip.Prefix {
	hi, lo := addrToU128(s.cluster.Addr())
	addHi, addLo := shl128(uint64(i), s.shift())
	var carry uint64
	lo, carry = bits.Add64(lo, addLo, 0)
	hi, _ = bits.Add64(hi, addHi, carry)
	return netip.PrefixFrom(u128ToAddr(hi, lo, s.cluster.Addr().Is4()), s.subnet)
}

// indexOf returns the index of p, which must be one of the set's subnets.
func (s *cidrSet) indexOf(p netip.Prefix) (int, error) {
	if p.Addr().Is4() != s.cluster.Addr().Is4() || p.Bits() != s.subnet || !s.cluster.Contains(p.Addr()) {
		return 0, fmt.Errorf("%s is not a /%d subnet of %s", p, s.subnet, s.cluster)
	}
	if p.Masked() != p {
		return 0, fmt.Errorf("%s is not a subnet address", p)
	}
	hi, lo := addrToU128(p.Addr())
	baseHi, baseLo := addrToU128(s.cluster.Addr())
	var borrow uint64
	lo, borrow = bits.Sub64(lo, baseLo, 0)
	hi, _ = bits.Sub64(hi, baseHi, borrow)
	_, idx := shr128(hi, lo, s.shift())
	return int(idx), nil
}

func (s *cidrSet) isUsed(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }

func (s *cidrSet) set(i int, on bool) {
	switch {
	case on && !s.isUsed(i):
		s.used[i/64] |= 1 << (i % 64)
		s.inUse++
	case !on && s.isUsed(i):
		s.used[i/64] &^= 1 << (i % 64)
		s.inUse--
	}
}

// occupy marks p used; already used is not an error (the caller tracks owners).
func (s *cidrSet) occupy(p netip.Prefix) error {
	i, err := s.indexOf(p)
	if err != nil {
		return err
	}
	s.set(i, true)
	return nil
}

func (s *cidrSet) release(p netip.Prefix) {
	if i, err := s.indexOf(p); err == nil {
		s.set(i, false)
	}
}

// allocateNext takes the next free subnet after the last one handed out.
func (s *cidrSet) allocateNext() (netip.Prefix, error) {
	if s.inUse >= s.count {
		return netip.Prefix{}, fmt.Errorf("%s: %w", s.cluster, ErrFull)
	}
	for n := 0; n < s.count; n++ {
		i := (s.next + n) % s.count
		if !s.isUsed(i) {
			s.set(i, true)
			s.next = (i + 1) % s.count
			return s.subnetAt(i), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%s: %w", s.cluster, ErrFull)
}

func addrToU128(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func u128ToAddr(hi, lo uint64, is4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	a := netip.AddrFrom16(b)
	if is4 {
		return a.Unmap()
	}
	return a
}

func shl128(v uint64, n uint) (hi, lo uint64) {
	switch {
	case n == 0:
		return 0, v
	case n >= 128:
		return 0, 0
	case n >= 64:
		return v << (n - 64), 0
	default:
		return v >> (64 - n), v << n
	}
}

func shr128(hi, lo uint64, n uint) (uint64, uint64) {
	switch {
	case n == 0:
		return hi, lo
	case n >= 128:
		return 0, 0
	case n >= 64:
		return 0, hi >> (n - 64)
	default:
		return hi >> n, lo>>n | hi<<(64-n)
	}
}
