package proxy

import (
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/knftables"
)

// TableName is the proxy's nftables table, in the ip family. Nothing else writes to it.
const TableName = "berth-proxy"

type baseChain struct {
	name      string
	chainType knftables.BaseChainType
	hook      knftables.BaseChainHook
	priority  knftables.BaseChainPriority
	// jump is the regular chain it sends packets to, with an optional match first.
	match, jump string
}

// baseChains hook the proxy into netfilter as kube-proxy does: DNAT at dstnat on
// prerouting (pods, other hosts) and output (the node's own processes); masquerade at
// srcnat on postrouting; the no-endpoint checks before DNAT on input, forward and output
// (reject is not allowed on prerouting).
var baseChains = []baseChain{
	{"filter-input", knftables.FilterType, knftables.InputHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
	{"filter-forward", knftables.FilterType, knftables.ForwardHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
	{"filter-output", knftables.FilterType, knftables.OutputHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
	{"nat-prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority, "", servicesChain},
	{"nat-output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority, "", servicesChain},
	{"nat-postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority, "", masqueradingChain},
}

// writeFreshTable replaces whatever table exists by an empty proxy table with its fixed
// chains, sets and maps, atomically with the rest of tx.
func writeFreshTable(tx *knftables.Transaction, nodeIPs []string) {
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("berth service proxy")})

	for _, name := range []string{servicesChain, endpointsCheckChain, rejectChain, markMasqChain, masqueradingChain} {
		tx.Add(&knftables.Chain{Name: name})
	}
	for _, bc := range baseChains {
		tx.Add(&knftables.Chain{Name: bc.name, Type: knftables.PtrTo(bc.chainType), Hook: knftables.PtrTo(bc.hook), Priority: knftables.PtrTo(bc.priority)})
		tx.Add(&knftables.Rule{Chain: bc.name, Rule: knftables.Concat(bc.match, "jump", bc.jump)})
	}

	const ipProtoPort = "ipv4_addr . inet_proto . inet_service : verdict"
	const protoPort = "inet_proto . inet_service : verdict"
	tx.Add(&knftables.Map{Name: serviceIPsMap, Type: ipProtoPort, Comment: knftables.PtrTo("ClusterIP and external IP traffic")})
	tx.Add(&knftables.Map{Name: serviceNodePortsMap, Type: protoPort, Comment: knftables.PtrTo("NodePort traffic")})
	tx.Add(&knftables.Map{Name: noEndpointServicesMap, Type: ipProtoPort, Comment: knftables.PtrTo("services with no usable endpoints: reject or drop")})
	tx.Add(&knftables.Map{Name: noEndpointNodePortsMap, Type: protoPort, Comment: knftables.PtrTo("NodePorts with no usable endpoints: reject or drop")})

	// NodePorts answer on the node's addresses, or on every local address but loopback.
	nodePortMatch := "fib daddr type local ip daddr != 127.0.0.0/8"
	if len(nodeIPs) > 0 {
		tx.Add(&knftables.Set{Name: nodePortIPsSet, Type: "ipv4_addr", Comment: knftables.PtrTo("addresses that accept NodePort traffic")})
		for _, ip := range nodeIPs {
			tx.Add(&knftables.Element{Set: nodePortIPsSet, Key: []string{ip}})
		}
		nodePortMatch = "ip daddr @" + nodePortIPsSet
	}

	tx.Add(&knftables.Rule{Chain: servicesChain, Rule: "ip daddr . meta l4proto . th dport vmap @" + serviceIPsMap})
	tx.Add(&knftables.Rule{Chain: servicesChain, Rule: nodePortMatch + " meta l4proto . th dport vmap @" + serviceNodePortsMap})
	tx.Add(&knftables.Rule{Chain: endpointsCheckChain, Rule: "ip daddr . meta l4proto . th dport vmap @" + noEndpointServicesMap})
	tx.Add(&knftables.Rule{Chain: endpointsCheckChain, Rule: nodePortMatch + " meta l4proto . th dport vmap @" + noEndpointNodePortsMap})
	// A TCP client gets a reset, everything else ICMP port unreachable: both fail at
	// once with "connection refused" instead of timing out.
	tx.Add(&knftables.Rule{Chain: rejectChain, Rule: "meta l4proto tcp reject with tcp reset"})
	tx.Add(&knftables.Rule{Chain: rejectChain, Rule: "reject"})
	tx.Add(&knftables.Rule{Chain: markMasqChain, Rule: "mark set mark or " + masqueradeMark})
	tx.Add(&knftables.Rule{Chain: masqueradingChain, Rule: "mark and " + masqueradeMark + " == 0 return"})
	tx.Add(&knftables.Rule{Chain: masqueradingChain, Rule: "mark set mark xor " + masqueradeMark})
	tx.Add(&knftables.Rule{Chain: masqueradingChain, Rule: "masquerade fully-random"})
}

// change is what one Service's update does to the table, split in the phases a
// transaction must follow: references go before what they reference is removed, and
// what a rule or element references exists before it is added.
type change struct {
	flush       []*knftables.Chain   // chains to empty: rewritten ones (added first) and removed ones
	delElements []*knftables.Element // removed or changed elements
	delSets     []*knftables.Set     // removed or changed affinity sets
	addSets     []*knftables.Set
	rules       []*knftables.Rule // the rewritten chains' rules
	addElements []*knftables.Element
	// removed are the chains no longer used: flushed now, deleted by a later sync (a
	// kernel before 6.2 frees a chain's references from map elements lazily).
	removed []string
	// written are the chains (re)written.
	written []string
}

// diff computes the change from old to desired (either may be empty). Chains whose
// rules did not change are not touched; a changed affinity timeout rewrites every chain
// of the service, since a set cannot be replaced while rules refer to it.
func diff(old, desired *serviceRules) *change {
	if old == nil {
		old = newServiceRules()
	}
	if desired == nil {
		desired = newServiceRules()
	}
	c := &change{}
	setsChanged := false
	for _, name := range sortedKeys(old.sets) {
		if timeout, ok := desired.sets[name]; !ok || timeout != old.sets[name] {
			c.delSets = append(c.delSets, &knftables.Set{Name: name})
			setsChanged = setsChanged || ok
		}
	}
	for _, name := range sortedKeys(desired.sets) {
		if timeout, ok := old.sets[name]; !ok || timeout != desired.sets[name] {
			c.addSets = append(c.addSets, affinitySet(name, desired.sets[name]))
		}
	}
	for _, name := range sortedKeys(desired.chains) {
		if sum, ok := old.sums[name]; ok && !setsChanged && sum == desired.sums[name] {
			continue
		}
		c.flush = append(c.flush, &knftables.Chain{Name: name})
		c.written = append(c.written, name)
		for _, rule := range desired.chains[name] {
			c.rules = append(c.rules, &knftables.Rule{Chain: name, Rule: rule})
		}
	}
	for _, name := range sortedKeys(old.sums) {
		if _, ok := desired.sums[name]; !ok {
			c.flush = append(c.flush, &knftables.Chain{Name: name})
			c.removed = append(c.removed, name)
		}
	}
	for _, k := range sortedElementKeys(old.elements) {
		if v, ok := desired.elements[k]; !ok || v != old.elements[k] {
			c.delElements = append(c.delElements, element(k, ""))
		}
	}
	for _, k := range sortedElementKeys(desired.elements) {
		if v, ok := old.elements[k]; !ok || v != desired.elements[k] {
			c.addElements = append(c.addElements, element(k, desired.elements[k]))
		}
	}
	return c
}

func (c *change) empty() bool {
	return len(c.flush)+len(c.delElements)+len(c.delSets)+len(c.addSets)+len(c.rules)+len(c.addElements) == 0
}

// size is how many anonymous maps and operations writeChanges writes for c (fresh: into
// a table that has none of its chains yet).
func (c *change) size(fresh bool) (maps, ops int) {
	for _, r := range c.rules {
		if strings.Contains(r.Rule, " vmap { ") {
			maps++
		}
	}
	ops = len(c.flush) + len(c.delElements) + len(c.delSets) + len(c.addSets) + len(c.rules) + len(c.addElements)
	if !fresh {
		ops += len(c.flush)
	}
	return maps, ops
}

// writeChanges appends changes to tx phase by phase. In a fresh table (fresh) the
// chains are only added: there is nothing to flush.
func writeChanges(tx *knftables.Transaction, changes []*change, fresh bool) {
	for _, c := range changes {
		for _, ch := range c.flush {
			tx.Add(ch)
			if !fresh {
				tx.Flush(ch)
			}
		}
	}
	for _, c := range changes {
		for _, e := range c.delElements {
			tx.Delete(e)
		}
	}
	for _, c := range changes {
		for _, s := range c.delSets {
			tx.Delete(s)
		}
	}
	for _, c := range changes {
		for _, s := range c.addSets {
			tx.Add(s)
		}
	}
	for _, c := range changes {
		for _, r := range c.rules {
			tx.Add(r)
		}
	}
	for _, c := range changes {
		for _, e := range c.addElements {
			tx.Add(e)
		}
	}
}

func affinitySet(name string, timeout time.Duration) *knftables.Set {
	return &knftables.Set{
		Name: name, Type: "ipv4_addr",
		// "dynamic" too: the kernel adds it to sets updated from the packet path, and a
		// later add of the same set without it would look like a conflicting change.
		Flags:   []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
		Timeout: knftables.PtrTo(timeout),
	}
}

func element(k elementKey, verdict string) *knftables.Element {
	e := &knftables.Element{Map: k.mapName, Key: k.parts()}
	if verdict != "" {
		e.Value = []string{verdict}
	}
	return e
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortedElementKeys(m map[elementKey]string) []elementKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b elementKey) int {
		if c := strings.Compare(a.mapName, b.mapName); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return keys
}
