package proxy

import (
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// The proxy's fixed chains, sets and maps (base chains are named type-hook).
const (
	servicesChain  = "services"
	nodePortsChain = "nodeports"
	nodePortIPsSet = "nodeport-ips"

	// Services with session affinity keep a chain per service port and endpoint
	// (see addAffinityPort); these verdict maps send their traffic there.
	affinityIPsMap       = "affinity-ips"
	affinityNodePortsMap = "affinity-nodeports"

	// Masquerade, by traffic key: ClusterIP traffic from outside the cluster CIDR
	// (outsideIPsSet), external traffic under the Cluster policy (always), external
	// traffic under the Local policy when it comes from the node itself.
	outsideIPsSet           = "masquerade-outside"
	masqueradeIPsSet        = "masquerade-ips"
	masqueradeNodePortsSet  = "masquerade-nodeports"
	localPolicyIPsSet       = "local-policy-ips"
	localPolicyNodePortsSet = "local-policy-nodeports"
	endpointsCheckChain     = "endpoints-check"
	rejectChain             = "reject-chain"
	rejectServicesSet       = "reject-services"
	rejectNodePortsSet      = "reject-nodeports"
	dropServicesSet         = "drop-services"
	dropNodePortsSet        = "drop-nodeports"

	// hairpinSet holds "ip . ip" for every endpoint address: a connection DNATed back
	// to its own source (a pod reaching itself through a Service) is masqueraded, so
	// that the reply comes back through the node. It is shared by every Service
	// (hairpinRefs counts them).
	hairpinSet = "hairpin"

	markMasqChain     = "mark-for-masquerade"
	masqueradingChain = "masquerading"
	// masqueradeMark is kube-proxy's default (bit 14), so CNI plugins that know it agree.
	masqueradeMark = "0x00004000"
)

// Endpoint classes: which endpoints a traffic key is balanced over. A class has a
// chain (classChain) that jumps to one chain per number of endpoints N in use, which
// DNATs through the map of the same name, keyed by the traffic key and
// `numgen random mod N` (see sizeName).
const (
	// ipClass: traffic to an address (ClusterIP: the internal policy's endpoints;
	// external IP: the external policy's).
	ipClass = "svc-ip"
	// ipClusterClass: external IPs under the Local policy, for pods and the node
	// itself (kube-proxy's short-circuit): every endpoint.
	ipClusterClass = "svc-ip-cluster"
	// nodePortClass and nodePortClusterClass: the same for NodePorts.
	nodePortClass        = "svc-nodeport"
	nodePortClusterClass = "svc-nodeport-cluster"
)

var classes = []string{ipClass, ipClusterClass, nodePortClass, nodePortClusterClass}

// sizeName is the chain and map of class for service ports of n endpoints.
func sizeName(class string, n int) string { return fmt.Sprintf("%s-%d", class, n) }

// parseSizeName is sizeName's inverse; ok is false for any other name.
func parseSizeName(name string) (class string, n int, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 1 || strconv.Itoa(n) != name[i+1:] || !slices.Contains(classes, name[:i]) {
		return "", 0, false
	}
	return name[:i], n, true
}

// isNodePortClass says whether class is keyed by protocol and port only.
func isNodePortClass(class string) bool { return strings.HasPrefix(class, "svc-nodeport") }

// elementKey names one element of one of the proxy's sets and maps; key is the nft key
// with its parts joined by " . ".
type elementKey struct {
	set string
	key string
}

func (k elementKey) parts() []string { return strings.Split(k.key, " . ") }

// claim is the traffic key an element serves: "ADDRESS . PROTOCOL . PORT" or, for a
// NodePort, "PROTOCOL . PORT" (the key without the endpoint index of a class map).
// Services claim traffic keys, not elements (see tableState.claim).
func (k elementKey) claim() string {
	parts := k.parts()
	n := 2
	if _, err := netip.ParseAddr(parts[0]); err == nil {
		n = 3
	}
	return strings.Join(parts[:min(n, len(parts))], " . ")
}

// serviceRules is everything the proxy writes for one Service: its elements in the
// shared sets and maps, the endpoint addresses it needs in the hairpin set and, for a
// Service with session affinity, the chains and sets of its own.
type serviceRules struct {
	// chains holds the rules to write; once written only sums is kept (to tell
	// whether a chain changed).
	chains map[string][]string
	sums   map[string]uint64        // chain → fingerprint of its rules
	sets   map[string]time.Duration // affinity set → element timeout
	// elements: the value is "" for a set element, else the map's value (data, or a
	// verdict in the affinity maps).
	elements map[elementKey]string
	hairpin  map[string]bool // endpoint addresses
}

func newServiceRules() *serviceRules {
	return &serviceRules{chains: map[string][]string{}, sums: map[string]uint64{}, sets: map[string]time.Duration{},
		elements: map[elementKey]string{}, hairpin: map[string]bool{}}
}

// seal fingerprints the chains.
func (r *serviceRules) seal() *serviceRules {
	for name, rules := range r.chains {
		h := fnv.New64a()
		for _, rule := range rules {
			h.Write([]byte(rule))
			h.Write([]byte{'\n'})
		}
		r.sums[name] = h.Sum64()
	}
	return r
}

// written is what to remember of r once it is in the table.
func (r *serviceRules) written() *serviceRules {
	return &serviceRules{sums: r.sums, sets: r.sets, elements: r.elements, hairpin: r.hairpin}
}

func (r *serviceRules) empty() bool {
	return r == nil || len(r.sums)+len(r.sets)+len(r.elements)+len(r.hairpin) == 0
}

func (r *serviceRules) equal(o *serviceRules) bool {
	if r.empty() || o.empty() {
		return r.empty() == o.empty()
	}
	return maps.Equal(r.sums, o.sums) && maps.Equal(r.sets, o.sets) && maps.Equal(r.elements, o.elements) && maps.Equal(r.hairpin, o.hairpin)
}

// sizes lists the class maps r has elements in.
func (r *serviceRules) sizes() map[string]bool {
	out := map[string]bool{}
	if r == nil {
		return out
	}
	for k := range r.elements {
		if _, _, ok := parseSizeName(k.set); ok {
			out[k.set] = true
		}
	}
	return out
}

// ruleParams are the node's facts rule generation depends on.
type ruleParams struct {
	nodeName string
	// clusterCIDR is the pod network of the whole cluster; traffic to a ClusterIP from
	// outside it is masqueraded. Empty: no such masquerade.
	clusterCIDR string
}

// desiredRules computes what svc (nil when deleted) with its slices needs. It is pure:
// same inputs, same output.
func desiredRules(svc *corev1.Service, eps []*discoveryv1.EndpointSlice, p ruleParams) *serviceRules {
	r := newServiceRules()
	for _, sp := range servicePorts(svc) {
		c := categorize(sp, endpointsFor(sp, eps, p.nodeName))
		if sp.affinity > 0 {
			addAffinityPort(r, sp, c, p)
		} else {
			addServicePort(r, sp, c, p)
		}
		// Hairpin: a pod reaching itself through the service must see the reply come
		// from the service, so the node has to be in the path (see hairpinSet).
		for _, e := range c.reachable {
			r.hairpin[e.ip] = true
		}
	}
	return r.seal()
}

// trafficKeys are the keys of one service port's traffic: its ClusterIP, its external
// IPs and its NodePort ("" without).
func trafficKeys(sp *servicePort) (clusterIP string, external []string, nodePort string) {
	port := fmt.Sprint(sp.port)
	for _, ip := range sp.externalIPs {
		external = append(external, join(ip, sp.protocol, port))
	}
	if sp.nodePort != 0 {
		nodePort = join(sp.protocol, fmt.Sprint(sp.nodePort))
	}
	return join(sp.clusterIP, sp.protocol, port), external, nodePort
}

// policies says which endpoints the internal and external traffic of sp use, and
// whether there are any.
func policies(sp *servicePort, c categorized) (internal []endpoint, hasInternal bool, external []endpoint, hasExternal bool) {
	internal, hasInternal = c.cluster, c.any
	if sp.internalLocal {
		internal, hasInternal = c.local, len(c.local) > 0
	}
	external, hasExternal = c.cluster, c.any
	if sp.externalLocal {
		external, hasExternal = c.local, len(c.local) > 0
	}
	return internal, hasInternal, external, hasExternal
}

// addNoEndpoints rejects (no endpoints anywhere) or drops (none for this policy: Local
// with endpoints on other nodes only) the traffic to key.
func addNoEndpoints(r *serviceRules, c categorized, key string, nodePort bool) {
	set := dropServicesSet
	switch {
	case !c.any && nodePort:
		set = rejectNodePortsSet
	case !c.any:
		set = rejectServicesSet
	case nodePort:
		set = dropNodePortsSet
	}
	r.elements[elementKey{set, key}] = ""
}

// addServicePort writes one service port (without session affinity) as elements only:
// kube-proxy's nftables rules, with the per-Service chains replaced by the fixed chains
// of the main table and the traffic key's elements in its sets and class maps.
func addServicePort(r *serviceRules, sp *servicePort, c categorized, p ruleParams) {
	clusterKey, externalKeys, nodePortKey := trafficKeys(sp)
	internal, hasInternal, external, hasExternal := policies(sp, c)
	if hasInternal {
		if p.clusterCIDR != "" {
			r.elements[elementKey{outsideIPsSet, clusterKey}] = ""
		}
		addEndpoints(r, ipClass, clusterKey, sp, internal)
	} else {
		addNoEndpoints(r, c, clusterKey, false)
	}
	externalKey := func(key string, nodePort bool) {
		masq, localPolicy, class, clusterClass := masqueradeIPsSet, localPolicyIPsSet, ipClass, ipClusterClass
		if nodePort {
			masq, localPolicy, class, clusterClass = masqueradeNodePortsSet, localPolicyNodePortsSet, nodePortClass, nodePortClusterClass
		}
		switch {
		case !c.any:
		case !sp.externalLocal:
			// Cluster policy: the endpoint may be on another node; masquerade so the
			// reply comes back through this one.
			r.elements[elementKey{masq, key}] = ""
			addEndpoints(r, class, key, sp, external)
		default:
			// Local policy keeps the client address. Pods and the node itself are not
			// external clients: they may use any endpoint, the node's own traffic
			// masqueraded.
			r.elements[elementKey{localPolicy, key}] = ""
			addEndpoints(r, clusterClass, key, sp, c.cluster)
			if hasExternal {
				addEndpoints(r, class, key, sp, external)
			}
		}
		if !hasExternal {
			addNoEndpoints(r, c, key, nodePort)
		}
	}
	for _, key := range externalKeys {
		externalKey(key, false)
	}
	if nodePortKey != "" {
		externalKey(nodePortKey, true)
	}
}

// addEndpoints puts key's endpoints into class's map of their number, one element per
// endpoint: KEY . i → ADDRESS . PORT, i from 0 (the value of `numgen random mod N`).
func addEndpoints(r *serviceRules, class, key string, sp *servicePort, eps []endpoint) {
	if len(eps) == 0 {
		return
	}
	set := sizeName(class, len(eps))
	for i, e := range eps {
		r.elements[elementKey{set, join(key, strconv.Itoa(i))}] = join(e.ip, fmt.Sprint(e.port))
	}
}

// Chain and set names of Services with session affinity: a hash of the full name first
// (so names that differ only at the end still look different, and truncation could
// never make two equal), then the name itself for people reading `nft list`.
const (
	clusterChainPrefix  = "service-"
	localChainPrefix    = "local-"
	externalChainPrefix = "external-"
	endpointChainPrefix = "endpoint-"
	affinitySetPrefix   = "affinity-"
)

// addAffinityPort writes a service port with session affinity ClientIP as kube-proxy's
// nftables mode does: a chain per service port and endpoint, the endpoint chain
// recording the client in the endpoint's set with a timeout, and the service chain
// sending a known client back to its endpoint. Dispatch is through the affinity
// verdict maps; the masquerade is in the chains.
func addAffinityPort(r *serviceRules, sp *servicePort, c categorized, p ruleParams) {
	base := sp.baseName()
	clusterChain := clusterChainPrefix + base
	localChain := localChainPrefix + base
	externalChain := externalChainPrefix + base
	clusterKey, externalKeys, nodePortKey := trafficKeys(sp)
	_, hasInternal, _, hasExternal := policies(sp, c)

	internalChain := clusterChain
	if sp.internalLocal {
		internalChain = localChain
	}
	externalPolicyChain := clusterChain
	if sp.externalLocal {
		externalPolicyChain = localChain
	}
	if hasInternal {
		r.elements[elementKey{affinityIPsMap, clusterKey}] = "goto " + internalChain
	} else {
		addNoEndpoints(r, c, clusterKey, false)
	}
	for _, key := range externalKeys {
		if c.any {
			r.elements[elementKey{affinityIPsMap, key}] = "goto " + externalChain
		}
		if !hasExternal {
			addNoEndpoints(r, c, key, false)
		}
	}
	if nodePortKey != "" {
		if c.any {
			r.elements[elementKey{affinityNodePortsMap, nodePortKey}] = "goto " + externalChain
		}
		if !hasExternal {
			addNoEndpoints(r, c, nodePortKey, true)
		}
	}

	if len(c.cluster) > 0 && sp.usesClusterEndpoints() {
		r.chains[clusterChain] = nil
	}
	if len(c.local) > 0 && sp.usesLocalEndpoints() {
		r.chains[localChain] = nil
	}
	// Traffic to the ClusterIP from outside the pod network (a node routing the service
	// CIDR to this one, say) may leave this node again: masquerade it so replies return.
	if hasInternal && p.clusterCIDR != "" {
		r.chains[internalChain] = append(r.chains[internalChain],
			fmt.Sprintf("ip daddr %s %s dport %d ip saddr != %s jump %s", sp.clusterIP, sp.protocol, sp.port, p.clusterCIDR, markMasqChain))
	}
	if c.any && sp.externallyAccessible() {
		var rules []string
		if !sp.externalLocal {
			rules = append(rules, "jump "+markMasqChain)
		} else {
			if p.clusterCIDR != "" {
				rules = append(rules, fmt.Sprintf("ip saddr %s goto %s", p.clusterCIDR, clusterChain))
			}
			rules = append(rules,
				"fib saddr type local jump "+markMasqChain,
				"fib saddr type local goto "+clusterChain)
		}
		if hasExternal {
			rules = append(rules, "goto "+externalPolicyChain)
		}
		r.chains[externalChain] = rules
	}
	for _, e := range c.reachable {
		r.sets[affinitySetPrefix+sp.endpointBaseName(e)] = sp.affinity
	}
	if _, ok := r.chains[clusterChain]; ok {
		r.chains[clusterChain] = append(r.chains[clusterChain], balanceRules(sp, c.cluster)...)
	}
	if _, ok := r.chains[localChain]; ok {
		r.chains[localChain] = append(r.chains[localChain], balanceRules(sp, c.local)...)
	}
	for _, e := range c.reachable {
		name := sp.endpointBaseName(e)
		r.chains[endpointChainPrefix+name] = []string{
			fmt.Sprintf("update @%s { ip saddr }", affinitySetPrefix+name),
			fmt.Sprintf("meta l4proto %s dnat to %s", sp.protocol, e),
		}
	}
}

// maxCascade is the most endpoints an affinity Service's chain picks from with a
// cascade of numgen rules; more get an anonymous verdict map (a set of the table each:
// the kernel finds sets by walking the table's list of them).
const maxCascade = 16

// balanceRules sends a new connection of an affinity Service to a recent client's
// endpoint, else to a random one's chain: through a cascade in which rule i takes 1 of
// the N-i remaining choices (so each endpoint gets 1/N), past maxCascade through a
// numgen verdict map.
func balanceRules(sp *servicePort, eps []endpoint) []string {
	var rules []string
	chains := make([]string, len(eps))
	for i, e := range eps {
		name := sp.endpointBaseName(e)
		chains[i] = endpointChainPrefix + name
		rules = append(rules, fmt.Sprintf("ip saddr @%s goto %s", affinitySetPrefix+name, chains[i]))
	}
	if len(eps) <= maxCascade {
		for i, chain := range chains[:len(chains)-1] {
			rules = append(rules, fmt.Sprintf("numgen random mod %d == 0 goto %s", len(chains)-i, chain))
		}
		return append(rules, "goto "+chains[len(chains)-1])
	}
	targets := make([]string, len(eps))
	for i, chain := range chains {
		targets[i] = fmt.Sprintf("%d : goto %s", i, chain)
	}
	return append(rules, fmt.Sprintf("numgen random mod %d vmap { %s }", len(eps), strings.Join(targets, " , ")))
}

func join(parts ...string) string { return strings.Join(parts, " . ") }
