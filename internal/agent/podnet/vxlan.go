package podnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The VXLAN device, as flannel's vxlan backend makes it: VNI 1 on the Linux VXLAN
// port, one per node, the node's InternalIP as its local end, no learning (podnet
// writes every peer's neighbour and forwarding entry).
const (
	VXLANDevice = "berth.1"
	VXLANID     = 1
	VXLANPort   = 8472
	// VXLANOverhead is what encapsulation adds to a packet over IPv4: outer IP 20,
	// UDP 8, VXLAN 8, inner Ethernet 14.
	VXLANOverhead = 50
)

// link is a network device of the node as `ip -d -j addr show` describes it.
type link struct {
	Name     string   `json:"ifname"`
	MTU      int      `json:"mtu"`
	Address  string   `json:"address"`
	Flags    []string `json:"flags"`
	LinkInfo *struct {
		Kind string `json:"info_kind"`
		Data struct {
			ID       int    `json:"id"`
			Local    string `json:"local"`
			Port     int    `json:"port"`
			Learning bool   `json:"learning"`
		} `json:"info_data"`
	} `json:"linkinfo"`
	Addrs []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

type links []link

// readLinks lists the devices of the node's namespace with their addresses.
func readLinks(netNS string) (links, error) {
	out, err := runIn(netNS, "ip", "-d", "-j", "addr", "show")
	if err != nil {
		return nil, err
	}
	var ls links
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		return nil, fmt.Errorf("podnet: ip -j addr: %w", err)
	}
	return ls, nil
}

func (ls links) named(name string) *link {
	for i := range ls {
		if ls[i].Name == name {
			return &ls[i]
		}
	}
	return nil
}

// holding is the device that has ip (nil if none).
func (ls links) holding(ip netip.Addr) *link {
	for i := range ls {
		if ls[i].has(netip.PrefixFrom(ip, 32), false) {
			return &ls[i]
		}
	}
	return nil
}

// has reports whether the device has the address p.Addr() (and, with exact, that prefix length).
func (l *link) has(p netip.Prefix, exact bool) bool {
	for _, a := range l.Addrs {
		if a.Local == p.Addr().String() && (!exact || a.PrefixLen == p.Bits()) {
			return true
		}
	}
	return false
}

// connected are the IPv4 subnets of the node's addresses, but those of the loopback
// and the VXLAN device: the neighbours a route reaches without a gateway.
func (ls links) connected() []netip.Prefix {
	var out []netip.Prefix
	for _, l := range ls {
		if l.Name == VXLANDevice || slices.Contains(l.Flags, "LOOPBACK") {
			continue
		}
		for _, a := range l.Addrs {
			if ip, err := netip.ParseAddr(a.Local); err == nil && ip.Is4() && a.PrefixLen < 32 {
				out = append(out, netip.PrefixFrom(ip, a.PrefixLen).Masked())
			}
		}
	}
	return out
}

// PodMTU is the MTU pods of this node should get in mode: in ModeVXLAN, where all
// traffic to other nodes' pods is encapsulated, that of the link holding nodeIP less
// VXLANOverhead; otherwise 0 (the plugin's default, the link's own size), as most pod
// traffic then goes straight over the link and the tunnel clamps TCP's segments.
func PodMTU(mode Mode, netNS, nodeIP string) (int, error) {
	if mode != ModeVXLAN {
		return 0, nil
	}
	ip, err := netip.ParseAddr(nodeIP)
	if err != nil || ip.IsLoopback() {
		return 0, fmt.Errorf("podnet: node IP %q is no address of a link", nodeIP)
	}
	ls, err := readLinks(netNS)
	if err != nil {
		return 0, err
	}
	l := ls.holding(ip)
	if l == nil {
		return 0, fmt.Errorf("podnet: no link has the node's address %s", ip)
	}
	return l.MTU - VXLANOverhead, nil
}

// syncTunnel makes the VXLAN device as it should be (recreating one whose identity
// differs: another local address after the node's changed) and its neighbour and
// forwarding entries exactly those of the tunneled routes.
func (n *Network) syncTunnel(ls links, routes []Route) error {
	under := ls.holding(n.nodeIP)
	if under == nil {
		return fmt.Errorf("podnet: no link has this node's address %s: no VXLAN tunnel", n.nodeIP)
	}
	mtu, mac, vtep := under.MTU-VXLANOverhead, VTEPMAC(n.nodeIP).String(), netip.PrefixFrom(VTEPAddr(n.pod), 32)
	dev := ls.named(VXLANDevice)
	if dev != nil && !n.isOurTunnel(dev) {
		if err := n.ip("link", "delete", VXLANDevice); err != nil {
			return err
		}
		n.log.Info("VXLAN device replaced", "device", VXLANDevice)
		dev = nil
	}
	if dev == nil {
		if err := n.ip("link", "add", VXLANDevice, "address", mac, "mtu", strconv.Itoa(mtu), "type", "vxlan",
			"id", strconv.Itoa(VXLANID), "dstport", strconv.Itoa(VXLANPort), "local", n.nodeIP.String(), "nolearning"); err != nil {
			return err
		}
		n.log.Info("VXLAN device created", "device", VXLANDevice, "local", n.nodeIP, "mtu", mtu, "mac", mac, "vtep", vtep.Addr())
	} else if dev.MTU != mtu || dev.Address != mac {
		if err := n.ip("link", "set", "dev", VXLANDevice, "mtu", strconv.Itoa(mtu), "address", mac); err != nil {
			return err
		}
	}
	if dev == nil || !dev.has(vtep, true) {
		if err := n.ip("addr", "replace", vtep.String(), "dev", VXLANDevice); err != nil {
			return err
		}
	}
	if dev == nil || !slices.Contains(dev.Flags, "UP") {
		if err := n.ip("link", "set", VXLANDevice, "up"); err != nil {
			return err
		}
	}
	return n.syncPeers(routes)
}

func (n *Network) isOurTunnel(dev *link) bool {
	li := dev.LinkInfo
	return li != nil && li.Kind == "vxlan" && li.Data.ID == VXLANID && li.Data.Port == VXLANPort &&
		li.Data.Local == n.nodeIP.String() && !li.Data.Learning
}

// syncPeers writes, for every tunneled route, the neighbour (its VTEP address → MAC)
// and the forwarding entry (MAC → its InternalIP), and removes the others.
func (n *Network) syncPeers(routes []Route) error {
	neighs, fdb, err := n.peers()
	if err != nil {
		return err
	}
	var errs []error
	wantNeigh, wantFDB := map[string]bool{}, map[string]bool{}
	for _, r := range routes {
		if !r.VXLAN {
			continue
		}
		wantNeigh[r.Gateway], wantFDB[r.MAC] = true, true
		if neighs[r.Gateway] != r.MAC {
			if err := n.ip("neigh", "replace", r.Gateway, "lladdr", r.MAC, "dev", VXLANDevice, "nud", "permanent"); err != nil {
				errs = append(errs, err)
			}
		}
		if fdb[r.MAC] != r.NodeIP {
			if _, err := runIn(n.cfg.NetNS, "bridge", "fdb", "replace", r.MAC, "dev", VXLANDevice, "dst", r.NodeIP, "self", "permanent"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for ip := range neighs {
		if !wantNeigh[ip] {
			errs = append(errs, n.ip("neigh", "delete", ip, "dev", VXLANDevice))
		}
	}
	for mac, dst := range fdb {
		if !wantFDB[mac] {
			_, err := runIn(n.cfg.NetNS, "bridge", "fdb", "delete", mac, "dev", VXLANDevice, "dst", dst, "self")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// peers reads the device's permanent neighbours (address → MAC) and its forwarding
// entries with a destination (MAC → remote address).
func (n *Network) peers() (neighs, fdb map[string]string, err error) {
	out, err := n.ipOutput("-j", "neigh", "show", "dev", VXLANDevice, "nud", "permanent")
	if err != nil {
		return nil, nil, err
	}
	var neighList []struct {
		Dst    string `json:"dst"`
		LLAddr string `json:"lladdr"`
	}
	if err := unmarshalList(out, &neighList); err != nil {
		return nil, nil, fmt.Errorf("podnet: ip -j neigh: %w", err)
	}
	neighs = map[string]string{}
	for _, e := range neighList {
		neighs[e.Dst] = e.LLAddr
	}
	out, err = runIn(n.cfg.NetNS, "bridge", "-j", "fdb", "show", "dev", VXLANDevice)
	if err != nil {
		return nil, nil, err
	}
	var fdbList []struct {
		MAC string `json:"mac"`
		Dst string `json:"dst"`
	}
	if err := unmarshalList(out, &fdbList); err != nil {
		return nil, nil, fmt.Errorf("podnet: bridge -j fdb: %w", err)
	}
	fdb = map[string]string{}
	for _, e := range fdbList {
		if e.Dst != "" {
			fdb[e.MAC] = e.Dst
		}
	}
	return neighs, fdb, nil
}

// deleteTunnel removes the VXLAN device (its routes, neighbours and forwarding entries
// go with it), if there is one.
func (n *Network) deleteTunnel() error {
	err := n.ip("link", "delete", VXLANDevice)
	if err != nil && (strings.Contains(err.Error(), "Cannot find device") || strings.Contains(err.Error(), "does not exist")) {
		return nil
	}
	if err == nil {
		n.log.Info("VXLAN device removed", "device", VXLANDevice)
	}
	return err
}

func unmarshalList(out string, v any) error {
	if strings.TrimSpace(out) == "" {
		return nil
	}
	return json.Unmarshal([]byte(out), v)
}
