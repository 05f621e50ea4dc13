package framework

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth/berth/internal/netns"
)

// Link is the network e2e nodes share, as machines on one switch: a bridge in a network
// namespace of its own (the "outside": neither node nor host), every node's eth0 on it,
// and the host on it through one veth, so that the API server on the host reaches the
// nodes' streaming endpoints. Its /24 is chosen at random among ones the host does not
// use.
type Link struct {
	// NetNS is the outside namespace: a client that is on the nodes' network but on no node.
	NetNS  *Node
	Prefix netip.Prefix
	// Gateway is the outside namespace's address (the nodes' default route).
	Gateway  string
	hostVeth string
	nodes    int
}

// newLink makes the outside namespace, its bridge and the host's veth onto it.
func newLink(t testing.TB, id string) *Link {
	t.Helper()
	l := &Link{NetNS: &Node{Name: "berth-e2e-" + id + "-net"}, hostVeth: "be" + id}
	l.NetNS.NetNS = netns.Path(l.NetNS.Name)
	l.Prefix = freePrefix(t)
	base := l.Prefix.Addr().As4()
	at := func(last byte) string { b := base; b[3] = last; return netip.AddrFrom4(b).String() }
	l.Gateway = at(1)
	t.Cleanup(func() { l.cleanup(t) })
	out := l.NetNS.Name
	for _, args := range [][]string{
		{"netns", "add", out},
		{"-n", out, "link", "set", "lo", "up"},
		{"-n", out, "link", "add", "br0", "type", "bridge"},
		{"-n", out, "addr", "add", l.Gateway + "/24", "dev", "br0"},
		{"-n", out, "link", "set", "br0", "up"},
		{"link", "add", l.hostVeth, "type", "veth", "peer", "name", "host", "netns", out},
		{"-n", out, "link", "set", "host", "master", "br0"},
		{"-n", out, "link", "set", "host", "up"},
		{"addr", "add", at(254) + "/24", "dev", l.hostVeth},
		{"link", "set", l.hostVeth, "up"},
	} {
		run(t, "ip", args...)
	}
	return l
}

// attach puts n's eth0 on the link and returns its address (.10, .11, ... in order of
// attachment); the node's default route is the outside namespace.
func (l *Link) attach(t testing.TB, n *Node) string {
	t.Helper()
	base := l.Prefix.Addr().As4()
	base[3] = byte(10 + l.nodes)
	l.nodes++
	ip := netip.AddrFrom4(base).String()
	port := fmt.Sprintf("n%d", l.nodes)
	for _, args := range [][]string{
		{"-n", n.Name, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", l.NetNS.Name},
		{"-n", l.NetNS.Name, "link", "set", port, "master", "br0"},
		{"-n", l.NetNS.Name, "link", "set", port, "up"},
		{"-n", n.Name, "addr", "add", ip + "/24", "dev", "eth0"},
		{"-n", n.Name, "link", "set", "eth0", "up"},
		{"-n", n.Name, "route", "add", "default", "via", l.Gateway},
	} {
		run(t, "ip", args...)
	}
	return ip
}

// cleanup deletes the outside namespace (its bridge and ports go with it, and so does
// the host's veth, whose peer was there).
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

// freePrefix picks a 192.168.X.0/24 (X in 100–199) that no address or route of the
// host overlaps.
func freePrefix(t testing.TB) netip.Prefix {
	t.Helper()
	var used []netip.Prefix
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
