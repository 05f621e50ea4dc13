package framework

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/berth/berth/internal/netns"
)

// Link is the network e2e nodes share, as machines on one switch: a bridge in a network
// namespace of its own (the "outside": neither node nor host), every node's eth0 on it,
// and the host on it through one veth, so that the API server on the host reaches the
// nodes' streaming endpoints. Its /24 is chosen at random among ones the host does not
// use.
//
// A routed Link puts every node on a /24 and a bridge of its own instead, the outside
// namespace routing between them: no two nodes share an L2 segment (the host is on the
// first node's, with a route to the others through the outside).
type Link struct {
	// NetNS is the outside namespace: a client that is on the nodes' network but on no node.
	NetNS  *Node
	Prefix netip.Prefix
	// Gateway is the outside namespace's address on Prefix (the first node's default
	// route; every node's is the outside's address on its own subnet).
	Gateway string
	// Routed says every node has a subnet of its own.
	Routed   bool
	prefixes []netip.Prefix
	hostVeth string
	nodes    int
}

// newLink makes the outside namespace, its bridge and the host's veth onto it.
func newLink(t testing.TB, id string, routed bool) *Link {
	t.Helper()
	l := &Link{NetNS: &Node{Name: "berth-e2e-" + id + "-net"}, hostVeth: "be" + id, Routed: routed}
	l.NetNS.NetNS = netns.Path(l.NetNS.Name)
	l.Prefix = freePrefix(t)
	l.prefixes = []netip.Prefix{l.Prefix}
	l.Gateway = hostOn(l.Prefix, 1)
	t.Cleanup(func() { l.cleanup(t) })
	out := l.NetNS.Name
	run(t, "ip", "netns", "add", out)
	run(t, "ip", "-n", out, "link", "set", "lo", "up")
	l.addBridge(t, "br0", l.Prefix)
	for _, args := range [][]string{
		{"link", "add", l.hostVeth, "type", "veth", "peer", "name", "host", "netns", out},
		{"-n", out, "link", "set", "host", "master", "br0"},
		{"-n", out, "link", "set", "host", "up"},
		{"addr", "add", hostOn(l.Prefix, 254) + "/24", "dev", l.hostVeth},
		{"link", "set", l.hostVeth, "up"},
	} {
		run(t, "ip", args...)
	}
	if routed {
		run(t, "ip", "netns", "exec", out, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	}
	return l
}

// addBridge makes a bridge in the outside namespace with the gateway (.1) of prefix.
func (l *Link) addBridge(t testing.TB, name string, prefix netip.Prefix) {
	t.Helper()
	out := l.NetNS.Name
	for _, args := range [][]string{
		{"-n", out, "link", "add", name, "type", "bridge"},
		{"-n", out, "addr", "add", hostOn(prefix, 1) + "/24", "dev", name},
		{"-n", out, "link", "set", name, "up"},
	} {
		run(t, "ip", args...)
	}
}

// hostOn is the address .last of a /24.
func hostOn(p netip.Prefix, last byte) string {
	b := p.Addr().As4()
	b[3] = last
	return netip.AddrFrom4(b).String()
}

// attach puts n's eth0 on the link and returns its address: .10, .11, ... in order of
// attachment, or on a routed link .10 of a new subnet (bridge br<i> of the outside,
// and a route to it on the host). The node's default route is the outside namespace.
func (l *Link) attach(t testing.TB, n *Node) string {
	t.Helper()
	i := l.nodes
	l.nodes++
	prefix, bridge, ip := l.Prefix, "br0", hostOn(l.Prefix, byte(10+i))
	if l.Routed {
		if i > 0 {
			prefix, bridge = freePrefix(t, l.prefixes...), fmt.Sprintf("br%d", i)
			l.prefixes = append(l.prefixes, prefix)
			l.addBridge(t, bridge, prefix)
			run(t, "ip", "route", "add", prefix.String(), "via", l.Gateway, "dev", l.hostVeth)
		}
		ip = hostOn(prefix, 10)
	}
	port := fmt.Sprintf("n%d", l.nodes)
	for _, args := range [][]string{
		{"-n", n.Name, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", l.NetNS.Name},
		{"-n", l.NetNS.Name, "link", "set", port, "master", bridge},
		{"-n", l.NetNS.Name, "link", "set", port, "up"},
		{"-n", n.Name, "addr", "add", ip + "/24", "dev", "eth0"},
		{"-n", n.Name, "link", "set", "eth0", "up"},
		{"-n", n.Name, "route", "add", "default", "via", hostOn(prefix, 1)},
	} {
		run(t, "ip", args...)
	}
	return ip
}

// cleanup deletes the outside namespace (its bridges and ports go with it, and so does
// the host's veth, whose peer was there, with the host's routes through it).
func (l *Link) cleanup(t testing.TB) {
	if _, err := os.Stat(l.NetNS.NetNS); err == nil {
		if out, err := exec.Command("ip", "netns", "delete", l.NetNS.Name).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns delete %s: %v: %s", l.NetNS.Name, err, out)
		}
	}
	if out, err := exec.Command("ip", "link", "delete", l.hostVeth).CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "Cannot find device") {
		t.Errorf("cleanup: ip link delete %s: %v: %s", l.hostVeth, err, out)
	}
}

// RequireVXLAN skips the test unless the kernel makes VXLAN devices: it makes one in a
// scratch network namespace.
func RequireVXLAN(t testing.TB) {
	t.Helper()
	Require(t)
	name := "berth-e2e-" + randomID() + "-vx"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	defer func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns delete %s: %v: %s", name, err, out)
		}
	}()
	if out, err := exec.Command("ip", "-n", name, "link", "add", "vx0", "type", "vxlan", "id", "1", "dstport", "8472").CombinedOutput(); err != nil {
		t.Skipf("this kernel makes no VXLAN devices (ip link add type vxlan: %v: %s)", err, strings.TrimSpace(string(out)))
	}
}

// freePrefix picks a 192.168.X.0/24 (X in 100–199) that no address or route of the
// host overlaps, nor taken.
func freePrefix(t testing.TB, taken ...netip.Prefix) netip.Prefix {
	t.Helper()
	used := slices.Clone(taken)
	for _, args := range [][]string{{"-j", "-4", "addr"}, {"-j", "-4", "route", "show", "table", "all"}} {
		out, err := exec.Command("ip", args...).Output()
		if err != nil {
			t.Fatalf("ip %s: %v", strings.Join(args, " "), err)
		}
		used = append(used, hostPrefixes(t, out)...)
	}
	for range 100 {
		n, _ := rand.Int(rand.Reader, big.NewInt(100))
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(100 + n.Int64()), 0}), 24)
		free := true
		for _, u := range used {
			if u.Overlaps(p) && u.Bits() > 0 {
				free = false
				break
			}
		}
		if free {
			return p
		}
	}
	t.Fatal("no free 192.168.X.0/24 for the nodes' link")
	return netip.Prefix{}
}

// hostPrefixes reads the prefixes of `ip -j addr` and `ip -j route` output.
func hostPrefixes(t testing.TB, out []byte) []netip.Prefix {
	var entries []struct {
		Dst      string `json:"dst"`
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		t.Fatalf("parse ip -j output: %v", err)
	}
	var ps []netip.Prefix
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e.Dst); err == nil {
			ps = append(ps, p)
		} else if a, err := netip.ParseAddr(e.Dst); err == nil {
			ps = append(ps, netip.PrefixFrom(a, 32))
		}
		for _, ai := range e.AddrInfo {
			if a, err := netip.ParseAddr(ai.Local); err == nil {
				ps = append(ps, netip.PrefixFrom(a, ai.PrefixLen).Masked())
			}
		}
	}
	return ps
}
