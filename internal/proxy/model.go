package proxy

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// servicePort is one port of one Service, as the proxy programs it.
type servicePort struct {
	service     string // namespace/name
	portName    string
	protocol    string // tcp, udp or sctp
	clusterIP   string // IPv4
	port        int32
	nodePort    int32
	externalIPs []string // spec.externalIPs and load-balancer ingress IPs (IPv4)
	// affinity is the ClientIP session affinity timeout; 0 means no affinity.
	affinity      time.Duration
	internalLocal bool // internalTrafficPolicy: Local
	externalLocal bool // externalTrafficPolicy: Local
}

// externallyAccessible says whether traffic may come from outside the cluster (through a
// NodePort or an external IP), where externalTrafficPolicy applies.
func (sp *servicePort) externallyAccessible() bool {
	return sp.nodePort != 0 || len(sp.externalIPs) > 0
}

// usesClusterEndpoints: external traffic needs them even under a Local policy, for the
// short-circuit of traffic from pods and the node itself.
func (sp *servicePort) usesClusterEndpoints() bool {
	return !sp.internalLocal || sp.externallyAccessible()
}

func (sp *servicePort) usesLocalEndpoints() bool {
	return sp.internalLocal || (sp.externallyAccessible() && sp.externalLocal)
}

// endpoint is one backend of a service port.
type endpoint struct {
	ip          string
	port        int32
	ready       bool
	serving     bool
	terminating bool
	local       bool // on this node
}

func (e endpoint) String() string { return fmt.Sprintf("%s:%d", e.ip, e.port) }

// proxied says whether the proxy handles svc at all: not headless, not ExternalName, not
// claimed by another proxy, and with an IPv4 cluster IP.
func proxied(svc *corev1.Service) bool {
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false
	}
	if _, other := svc.Labels["service.kubernetes.io/service-proxy-name"]; other {
		return false
	}
	return ipv4ClusterIP(svc) != ""
}

func ipv4ClusterIP(svc *corev1.Service) string {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if addr, err := netip.ParseAddr(ip); err == nil && addr.Is4() {
			return addr.String()
		}
	}
	return ""
}

// servicePorts lists the ports of svc the proxy programs.
func servicePorts(svc *corev1.Service) []*servicePort {
	if !proxied(svc) {
		return nil
	}
	var external []string
	for _, ip := range svc.Spec.ExternalIPs {
		if addr, err := netip.ParseAddr(ip); err == nil && addr.Is4() {
			external = append(external, addr.String())
		}
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if addr, err := netip.ParseAddr(ing.IP); err == nil && addr.Is4() {
			external = append(external, addr.String())
		}
	}
	slices.Sort(external)
	external = slices.Compact(external)
	var affinity time.Duration
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = 10800 * time.Second // the API default
		if cfg := svc.Spec.SessionAffinityConfig; cfg != nil && cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*cfg.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	var out []*servicePort
	for _, p := range svc.Spec.Ports {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		sp := &servicePort{
			service:       svc.Namespace + "/" + svc.Name,
			portName:      p.Name,
			protocol:      proto,
			clusterIP:     ipv4ClusterIP(svc),
			port:          p.Port,
			externalIPs:   external,
			affinity:      affinity,
			internalLocal: svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal,
			externalLocal: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
		}
		if nodePorts {
			sp.nodePort = p.NodePort
		}
		if !sp.externallyAccessible() {
			sp.externalLocal = false // externalTrafficPolicy means nothing without external access
		}
		out = append(out, sp)
	}
	return out
}

// endpointsFor collects the IPv4 endpoints of sp from the service's slices, once per
// address and port, in a stable order.
func endpointsFor(sp *servicePort, eps []*discoveryv1.EndpointSlice, nodeName string) []endpoint {
	seen := map[string]int{}
	var out []endpoint
	for _, slice := range eps {
		if slice.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var port int32
		found := false
		for _, p := range slice.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			proto := "tcp"
			if p.Protocol != nil {
				proto = strings.ToLower(string(*p.Protocol))
			}
			if name == sp.portName && proto == sp.protocol && p.Port != nil {
				port, found = *p.Port, true
				break
			}
		}
		if !found || port <= 0 {
			continue
		}
		for _, ep := range slice.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			addr, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || !addr.Is4() {
				continue
			}
			// Unset conditions mean ready and serving, not terminating (the API's rule).
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ready
			if ep.Conditions.Serving != nil {
				serving = *ep.Conditions.Serving
			}
			terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			e := endpoint{
				ip: addr.String(), port: port, ready: ready && !terminating, serving: serving, terminating: terminating,
				local: nodeName != "" && ep.NodeName != nil && *ep.NodeName == nodeName,
			}
			if i, dup := seen[e.String()]; dup {
				// A pod moving between slices shows up twice for a moment: prefer the
				// readier copy.
				if e.ready && !out[i].ready {
					out[i] = e
				}
				continue
			}
			seen[e.String()] = len(out)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		if c := cmp.Compare(ipKey(a.ip), ipKey(b.ip)); c != 0 {
			return c
		}
		return cmp.Compare(a.port, b.port)
	})
	return out
}

func ipKey(ip string) uint32 {
	a := netip.MustParseAddr(ip).As4()
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// categorized is which endpoints each kind of traffic may use (upstream's
// CategorizeEndpoints without topology hints).
type categorized struct {
	cluster []endpoint // for traffic policy Cluster
	local   []endpoint // for traffic policy Local: this node's only
	// reachable is every endpoint some chain of this node jumps to.
	reachable []endpoint
	// any says whether the service has a usable endpoint anywhere (on any node), which
	// decides between reject (none anywhere) and drop (none here, for Local).
	any bool
}

// categorize prefers ready endpoints and falls back to serving-but-terminating ones only
// when none are ready, separately for the cluster-wide and the node-local sets.
func categorize(sp *servicePort, eps []endpoint) categorized {
	usable := func(keep func(endpoint) bool) []endpoint {
		var ready, terminating []endpoint
		for _, e := range eps {
			if !keep(e) {
				continue
			}
			switch {
			case e.ready:
				ready = append(ready, e)
			case e.serving && e.terminating:
				terminating = append(terminating, e)
			}
		}
		if len(ready) > 0 {
			return ready
		}
		return terminating
	}
	var c categorized
	all := usable(func(endpoint) bool { return true })
	c.any = len(all) > 0
	if sp.usesClusterEndpoints() {
		c.cluster = all
	}
	if sp.usesLocalEndpoints() {
		c.local = usable(func(e endpoint) bool { return e.local })
	}
	seen := map[string]bool{}
	for _, e := range append(append([]endpoint(nil), c.cluster...), c.local...) {
		if !seen[e.String()] {
			seen[e.String()] = true
			c.reachable = append(c.reachable, e)
		}
	}
	return c
}

// hashedName is a hash of name, then name (cut to fit nft's limits).
func hashedName(name string) string {
	sum := sha256.Sum256([]byte(name))
	out := base32.StdEncoding.EncodeToString(sum[:])[:8] + "-" + name
	if max := 240; len(out) > max {
		out = out[:max]
	}
	return out
}

// baseName is "HASH-namespace/name/protocol/portname".
func (sp *servicePort) baseName() string {
	return hashedName(fmt.Sprintf("%s/%s/%s", sp.service, sp.protocol, sp.portName))
}

// endpointBaseName is "HASH-namespace/name/protocol/portname__ip/port".
func (sp *servicePort) endpointBaseName(e endpoint) string {
	return hashedName(fmt.Sprintf("%s/%s/%s__%s/%d", sp.service, sp.protocol, sp.portName, e.ip, e.port))
}
