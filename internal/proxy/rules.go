package proxy

import (
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// The proxy's fixed chains, sets and maps (base chains are named type-hook).
const (
	servicesChain       = "services"
	serviceIPsMap       = "service-ips"
	serviceNodePortsMap = "service-nodeports"
	nodePortIPsSet      = "nodeport-ips"

	endpointsCheckChain    = "endpoints-check"
	noEndpointServicesMap  = "no-endpoint-services"
	noEndpointNodePortsMap = "no-endpoint-nodeports"
	rejectChain            = "reject-chain"
	// The elements of the no-endpoint maps whose verdict is a goto to rejectChain are
	// written to these sets instead (see element): adding a set element does not make
	// the kernel check the table at commit, where adding a goto to a verdict map walks
	// every element of the table's maps (≈0.9 ms with 10 000 rejected services).
	rejectServicesSet  = "reject-services"
	rejectNodePortsSet = "reject-nodeports"

	// hairpinSet holds "ip . ip" for every endpoint address: a connection DNATed back
	// to its own source (a pod reaching itself through a Service) is masqueraded, so
	// that the reply comes back through the node. It is in the main table, shared by
	// every Service (hairpinRefs counts them).
	hairpinSet = "hairpin"

	markMasqChain     = "mark-for-masquerade"
	masqueradingChain = "masquerading"
	// masqueradeMark is kube-proxy's default (bit 14), so CNI plugins that know it agree.
	masqueradeMark = "0x00004000"
)

// elementKey names one element of one of the verdict maps; key is the nft key with its
// parts joined by " . ".
type elementKey struct {
	mapName string
	key     string
}

func (k elementKey) parts() []string { return strings.Split(k.key, " . ") }

// serviceRules is everything the proxy writes for one Service: the chains it owns (with
// their rules, in order), its affinity sets, its elements in the shared verdict maps and
// the endpoint addresses it needs in the hairpin set.
type serviceRules struct {
	// chains holds the rules to write; once written only sums is kept (to tell
	// whether a chain changed), so that 10 000 Services do not keep their rule text.
	chains   map[string][]string
	sums     map[string]uint64        // chain → fingerprint of its rules
	sets     map[string]time.Duration // affinity set → element timeout
	elements map[elementKey]string    // element → verdict
	hairpin  map[string]bool          // endpoint addresses
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
		addServicePort(r, sp, categorize(sp, endpointsFor(sp, eps, p.nodeName)), p)
	}
	return r.seal()
}

// addServicePort mirrors kube-proxy's nftables mode for one service port.
func addServicePort(r *serviceRules, sp *servicePort, c categorized, p ruleParams) {
	base := sp.baseName()
	clusterChain := clusterChainPrefix + base
	localChain := localChainPrefix + base
	externalChain := externalChainPrefix + base
	port := fmt.Sprint(sp.port)

	internalChain, hasInternal := clusterChain, c.any
	if sp.internalLocal {
		internalChain, hasInternal = localChain, len(c.local) > 0
	}
	externalPolicyChain, hasExternal := clusterChain, c.any
	if sp.externalLocal {
		externalPolicyChain, hasExternal = localChain, len(c.local) > 0
	}
	usesExternalChain := c.any && sp.externallyAccessible()

	// No endpoints anywhere: reject. Endpoints elsewhere only, with a Local policy: drop.
	internalVerdict, externalVerdict := "drop", "drop"
	if !c.any {
		internalVerdict, externalVerdict = "goto "+rejectChain, "goto "+rejectChain
	}

	if hasInternal {
		r.elements[elementKey{serviceIPsMap, join(sp.clusterIP, sp.protocol, port)}] = "goto " + internalChain
	} else {
		r.elements[elementKey{noEndpointServicesMap, join(sp.clusterIP, sp.protocol, port)}] = internalVerdict
	}
	for _, ip := range sp.externalIPs {
		if c.any {
			r.elements[elementKey{serviceIPsMap, join(ip, sp.protocol, port)}] = "goto " + externalChain
		}
		if !hasExternal {
			r.elements[elementKey{noEndpointServicesMap, join(ip, sp.protocol, port)}] = externalVerdict
		}
	}
	if sp.nodePort != 0 {
		np := fmt.Sprint(sp.nodePort)
		if c.any {
			r.elements[elementKey{serviceNodePortsMap, join(sp.protocol, np)}] = "goto " + externalChain
		}
		if !hasExternal {
			r.elements[elementKey{noEndpointNodePortsMap, join(sp.protocol, np)}] = externalVerdict
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

	if usesExternalChain {
		var rules []string
		if !sp.externalLocal {
			// Cluster policy: the endpoint may be on another node; masquerade so the
			// reply comes back through this one.
			rules = append(rules, "jump "+markMasqChain)
		} else {
			// Local policy keeps the client address. Pods and the node itself are
			// not external clients: they may use any endpoint (kube-proxy's
			// short-circuit), the node's own traffic masqueraded.
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

	if sp.affinity > 0 {
		for _, e := range c.reachable {
			r.sets[affinitySetPrefix+sp.endpointBaseName(e)] = sp.affinity
		}
	}
	// Endpoint chains only where a rule must go to one: affinity (the service chain
	// sends a known client to its endpoint's chain, which records it) or a numgen map.
	// Otherwise the service chain translates itself: fewer chains, and the kernel walks
	// every chain of the namespace at each commit.
	inline := sp.affinity == 0 && len(c.cluster) <= maxCascade && len(c.local) <= maxCascade
	if _, ok := r.chains[clusterChain]; ok {
		r.chains[clusterChain] = append(r.chains[clusterChain], balanceRules(sp, c.cluster, inline)...)
	}
	if _, ok := r.chains[localChain]; ok {
		r.chains[localChain] = append(r.chains[localChain], balanceRules(sp, c.local, inline)...)
	}
	for _, e := range c.reachable {
		// Hairpin: a pod reaching itself through the service must see the reply come
		// from the service, so the node has to be in the path (see hairpinSet).
		r.hairpin[e.ip] = true
		if inline {
			continue
		}
		name := sp.endpointBaseName(e)
		var rules []string
		if sp.affinity > 0 {
			rules = append(rules, fmt.Sprintf("update @%s { ip saddr }", affinitySetPrefix+name))
		}
		rules = append(rules, dnatRule(sp, e))
		r.chains[endpointChainPrefix+name] = rules
	}
}

// maxCascade is the most endpoints a service chain picks from with a cascade of numgen
// rules; more get an anonymous verdict map. Every anonymous map is a set of the table,
// and the kernel finds a set by walking the table's list of them (to create it, to
// look up the map a rule names, to add its elements; and binding it walks the whole
// pending transaction): with a map per Service, writing 10 000 Services costs the
// kernel ≈ 10 s whatever the transactions (bench/proxy), with the cascade ≈ 0.5 s.
// A cascade costs a packet one rule per endpoint passed over, and only the first
// packet of a connection goes through the nat chains.
const maxCascade = 16

func dnatRule(sp *servicePort, e endpoint) string {
	return fmt.Sprintf("meta l4proto %s dnat to %s", sp.protocol, e)
}

// balanceRules sends a new connection to a recent client's endpoint (affinity), else to
// a random one: with one endpoint, to it; with a few, through a cascade in which rule i
// takes 1 of the N-i remaining choices (so each endpoint gets 1/N); with more, through
// a numgen verdict map. With inline (no affinity, at most maxCascade endpoints) the
// cascade translates the connection itself, else it goes to the endpoint's chain.
func balanceRules(sp *servicePort, eps []endpoint, inline bool) []string {
	var rules []string
	if inline {
		for i, e := range eps[:len(eps)-1] {
			rules = append(rules, fmt.Sprintf("numgen random mod %d == 0 %s", len(eps)-i, dnatRule(sp, e)))
		}
		return append(rules, dnatRule(sp, eps[len(eps)-1]))
	}
	chains := make([]string, len(eps))
	for i, e := range eps {
		chains[i] = endpointChainPrefix + sp.endpointBaseName(e)
	}
	if sp.affinity > 0 {
		for _, e := range eps {
			name := sp.endpointBaseName(e)
			rules = append(rules, fmt.Sprintf("ip saddr @%s goto %s", affinitySetPrefix+name, endpointChainPrefix+name))
		}
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
