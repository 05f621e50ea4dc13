package podnet

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Mode is how a node reaches the pods of the other nodes.
type Mode string

const (
	// ModeAuto routes to a node on a subnet of this node's links through its InternalIP
	// and to any other node through the VXLAN tunnel (flannel's vxlan with DirectRouting).
	ModeAuto Mode = "auto"
	// ModeHostGW only routes through InternalIPs; nodes off this node's subnets are
	// reported, not reached (flannel's host-gw).
	ModeHostGW Mode = "host-gw"
	// ModeVXLAN sends all traffic to other nodes' pods through the tunnel.
	ModeVXLAN Mode = "vxlan"
)

// ParseMode reads a mode; "" is ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeHostGW, ModeVXLAN:
		return m, nil
	}
	return "", fmt.Errorf("pod network mode %q: want auto, host-gw or vxlan", s)
}

// String is the mode's name (the zero Mode is auto).
func (m Mode) String() string {
	if m == "" {
		return string(ModeAuto)
	}
	return string(m)
}

// Set makes *Mode a flag.Value.
func (m *Mode) Set(s string) error {
	parsed, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// Self is what the route decision needs of this node.
type Self struct {
	Name string
	// IP is the InternalIP: the tunnel's local end.
	IP netip.Addr
	// Connected are the subnets of this node's addresses (its links' neighbours).
	Connected []netip.Prefix
}

// Route is how this node reaches one other node's pods.
type Route struct {
	// Dst is the node's pod CIDR, Node its name, NodeIP its InternalIP.
	Dst, Node, NodeIP string
	// Gateway is NodeIP on a direct route; through the tunnel, the node's VTEP address
	// (the network address of its pod CIDR), which MAC answers at NodeIP.
	Gateway string
	VXLAN   bool
	MAC     string
}

// Unroutable is a node this node cannot reach in its mode.
type Unroutable struct {
	Node, NodeIP, Reason string
}

// Desired is the pod network towards the other nodes.
type Desired struct {
	Routes     []Route
	Unroutable []Unroutable
}

// Tunneled reports whether some route needs the VXLAN device.
func (d Desired) Tunneled() bool {
	return slices.ContainsFunc(d.Routes, func(r Route) bool { return r.VXLAN })
}

// DesiredRoutes decides, for every other node with a pod CIDR inside the cluster CIDR
// and an InternalIP, whether its pods are reached directly or through the tunnel
// (routes sorted by destination). It does no I/O.
func DesiredRoutes(mode Mode, self Self, cluster netip.Prefix, nodes []*corev1.Node) Desired {
	var d Desired
	for _, node := range nodes {
		if node.Name == self.Name || node.Spec.PodCIDR == "" {
			continue
		}
		dst, err := netip.ParsePrefix(node.Spec.PodCIDR)
		if err != nil || !dst.Addr().Is4() || !cluster.Contains(dst.Addr()) {
			continue
		}
		dst = dst.Masked()
		ip := internalIP(node)
		if !ip.IsValid() || ip.IsLoopback() || cluster.Contains(ip) {
			continue
		}
		if ip == self.IP {
			d.Unroutable = append(d.Unroutable, Unroutable{Node: node.Name, NodeIP: ip.String(), Reason: "it has this node's address"})
			continue
		}
		r := Route{Dst: dst.String(), Node: node.Name, NodeIP: ip.String(), Gateway: ip.String()}
		connected := slices.ContainsFunc(self.Connected, func(p netip.Prefix) bool { return p.Contains(ip) })
		switch {
		case mode == ModeVXLAN || (mode != ModeHostGW && !connected):
			if !self.IP.IsValid() || self.IP.IsLoopback() {
				d.Unroutable = append(d.Unroutable, Unroutable{Node: node.Name, NodeIP: ip.String(),
					Reason: "a VXLAN tunnel needs this node's InternalIP, and it has none on a link"})
				continue
			}
			r.VXLAN, r.Gateway, r.MAC = true, dst.Addr().String(), VTEPMAC(ip).String()
		case !connected:
			d.Unroutable = append(d.Unroutable, Unroutable{Node: node.Name, NodeIP: ip.String(),
				Reason: "its InternalIP is on no subnet of this node: host-gw cannot reach it (--pod-network auto or vxlan would tunnel)"})
			continue
		}
		d.Routes = append(d.Routes, r)
	}
	slices.SortFunc(d.Routes, func(a, b Route) int { return strings.Compare(a.Dst, b.Dst) })
	slices.SortFunc(d.Unroutable, func(a, b Unroutable) int { return strings.Compare(a.Node, b.Node) })
	return d
}

// VTEPMAC is the MAC of the VXLAN device of the node at ip: locally administered,
// unicast, 0e:42 then the address, so no node needs to publish it.
func VTEPMAC(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x0e, 0x42, b[0], b[1], b[2], b[3]}
}

// VTEPAddr is the address of a node's VXLAN device: its pod CIDR's network address
// (as flannel's), never given to a pod.
func VTEPAddr(podCIDR netip.Prefix) netip.Addr { return podCIDR.Masked().Addr() }

func internalIP(node *corev1.Node) netip.Addr {
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
				return ip
			}
		}
	}
	return netip.Addr{}
}
