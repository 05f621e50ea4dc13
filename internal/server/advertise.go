package server

import (
	"fmt"
	"net/netip"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// advertiseAddress picks the IP pods reach the API server at: the configured one, else
// the listen host when it is a specific non-loopback IPv4 address, else — listening on
// every address — the host's default-route interface address, as kube-apiserver
// chooses its --advertise-address. A loopback listener gives none.
func advertiseAddress(configured, listenHost string) (netip.Addr, error) {
	if configured != "" {
		ip, err := netip.ParseAddr(configured)
		if err != nil || !ip.Is4() || ip.IsLoopback() || ip.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("advertise address %q: want an IPv4 address that pods can reach (not loopback or 0.0.0.0)", configured)
		}
		return ip, nil
	}
	ip, err := netip.ParseAddr(listenHost)
	if err != nil {
		return netip.Addr{}, nil // a name: nothing to publish
	}
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified():
		host, err := utilnet.ChooseHostInterface()
		if err != nil {
			return netip.Addr{}, nil // no default route: pods cannot reach the API either way
		}
		if a, ok := netip.AddrFromSlice(host.To4()); ok && host.To4() != nil {
			return a, nil
		}
		return netip.Addr{}, nil
	case ip.Is4() && !ip.IsLoopback():
		return ip, nil
	}
	return netip.Addr{}, nil
}
