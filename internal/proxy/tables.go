package proxy

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/knftables"
)

// TableName is the proxy's table, in the ip family. Nothing else writes to it.
const TableName = "berth-proxy"

// IsProxyTable says whether name is the proxy's table or a table an older version of
// it wrote (shard tables TableName-0 … TableName-N): the proxy deletes those.
func IsProxyTable(name string) bool {
	if name == TableName {
		return true
	}
	n, ok := strings.CutPrefix(name, TableName+"-")
	if !ok || n == "" {
		return false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// tableConfig are the node's facts the fixed part of the table depends on.
type tableConfig struct {
	// nodeIPs accept NodePort traffic; empty: every local address but loopback.
	nodeIPs []string
	// clusterCIDR is the pod network ("" for none): pods are not external clients,
	// and ClusterIP traffic from outside it is masqueraded.
	clusterCIDR string
}

func tableObj(table string) *knftables.Table {
	return &knftables.Table{Family: knftables.IPv4Family, Name: table}
}

func chainObj(name string) *knftables.Chain {
	return &knftables.Chain{Family: knftables.IPv4Family, Table: TableName, Name: name}
}

func ruleObj(chain, rule string) *knftables.Rule {
	return &knftables.Rule{Family: knftables.IPv4Family, Table: TableName, Chain: chain, Rule: rule}
}

func setObj(name, typ, comment string) *knftables.Set {
	return &knftables.Set{Family: knftables.IPv4Family, Table: TableName, Name: name, Type: typ, Comment: knftables.PtrTo(comment)}
}

type baseChain struct {
	name      string
	chainType knftables.BaseChainType
	hook      knftables.BaseChainHook
	priority  knftables.BaseChainPriority
	// jump is the regular chain it sends packets to, with an optional match first.
	match, jump string
}

// The base chains hook the proxy into netfilter as kube-proxy does: DNAT at dstnat on
// prerouting (pods, other hosts) and output (the node's own processes), the no-endpoint
// checks before DNAT on input, forward and output (reject is not allowed on
// prerouting; `ct state new` first, so established traffic passes at once) and the
// masquerade at srcnat on postrouting.
var baseChains = []baseChain{
	{"filter-input", knftables.FilterType, knftables.InputHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
	{"filter-forward", knftables.FilterType, knftables.ForwardHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
	{"filter-output", knftables.FilterType, knftables.OutputHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
	{"nat-prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority, "", servicesChain},
	{"nat-output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority, "", servicesChain},
	{"nat-postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority, "", masqueradingChain},
}

const (
	ipProtoPort = "ipv4_addr . inet_proto . inet_service"
	protoPort   = "inet_proto . inet_service"
)

// writeFreshTable replaces whatever proxy tables exist (the table, and leftovers of
// older versions) by a table with the fixed chains, sets and maps, and the class maps
// and chains of sizes, atomically with the rest of tx.
func writeFreshTable(tx *knftables.Transaction, cfg tableConfig, leftovers []string, sizes []string) {
	for _, table := range append([]string{TableName}, leftovers...) {
		tx.Add(tableObj(table))
		tx.Delete(tableObj(table))
	}
	t := tableObj(TableName)
	t.Comment = knftables.PtrTo("berth service proxy")
	tx.Add(t)
	for _, name := range append([]string{endpointsCheckChain, rejectChain, masqueradingChain, servicesChain, nodePortsChain, markMasqChain}, classes...) {
		tx.Add(chainObj(name))
	}
	for _, bc := range baseChains {
		ch := chainObj(bc.name)
		ch.Type, ch.Hook, ch.Priority = knftables.PtrTo(bc.chainType), knftables.PtrTo(bc.hook), knftables.PtrTo(bc.priority)
		tx.Add(ch)
		tx.Add(ruleObj(bc.name, knftables.Concat(bc.match, "jump", bc.jump)))
	}
	for _, s := range []*knftables.Set{
		setObj(rejectServicesSet, ipProtoPort, "services with no endpoints anywhere: reject"),
		setObj(rejectNodePortsSet, protoPort, "NodePorts with no endpoints anywhere: reject"),
		setObj(dropServicesSet, ipProtoPort, "Local policy, no endpoint on this node: drop"),
		setObj(dropNodePortsSet, protoPort, "NodePorts, Local policy, no endpoint on this node: drop"),
		setObj(hairpinSet, "ipv4_addr . ipv4_addr", "endpoint . endpoint: connections DNATed to their source, masqueraded"),
		setObj(outsideIPsSet, ipProtoPort, "ClusterIPs: masquerade traffic from outside the cluster CIDR"),
		setObj(masqueradeIPsSet, ipProtoPort, "external IPs, Cluster policy: masquerade"),
		setObj(masqueradeNodePortsSet, protoPort, "NodePorts, Cluster policy: masquerade"),
		setObj(localPolicyIPsSet, ipProtoPort, "external IPs, Local policy"),
		setObj(localPolicyNodePortsSet, protoPort, "NodePorts, Local policy"),
	} {
		tx.Add(s)
	}
	tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: TableName, Name: affinityIPsMap, Type: ipProtoPort + " : verdict",
		Comment: knftables.PtrTo("services with session affinity: their chains")})
	tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: TableName, Name: affinityNodePortsMap, Type: protoPort + " : verdict",
		Comment: knftables.PtrTo("NodePorts with session affinity: their chains")})

	nodePort := "fib daddr type local ip daddr != 127.0.0.0/8"
	if len(cfg.nodeIPs) > 0 {
		tx.Add(setObj(nodePortIPsSet, "ipv4_addr", "addresses that accept NodePort traffic"))
		for _, ip := range cfg.nodeIPs {
			tx.Add(&knftables.Element{Family: knftables.IPv4Family, Table: TableName, Set: nodePortIPsSet, Key: []string{ip}})
		}
		nodePort = "ip daddr @" + nodePortIPsSet
	}

	const ipKey, portKey = "ip daddr . meta l4proto . th dport", "meta l4proto . th dport"
	check := []string{
		ipKey + " @" + rejectServicesSet + " goto " + rejectChain,
		ipKey + " @" + dropServicesSet + " drop",
		nodePort + " " + portKey + " @" + rejectNodePortsSet + " goto " + rejectChain,
		nodePort + " " + portKey + " @" + dropNodePortsSet + " drop",
	}
	for _, rule := range check {
		tx.Add(ruleObj(endpointsCheckChain, rule))
	}
	// A TCP client gets a reset, everything else ICMP port unreachable: both fail at
	// once with "connection refused" instead of timing out.
	tx.Add(ruleObj(rejectChain, "meta l4proto tcp reject with tcp reset"))
	tx.Add(ruleObj(rejectChain, "reject"))

	// The DNAT: affinity Services through their chains; the others through the class
	// chains, after the masquerade marks. Local-policy external traffic from pods and
	// the node itself first tries the cluster class (only such keys are in it).
	fromPods := func(chain string) []string {
		var out []string
		if cfg.clusterCIDR != "" {
			out = append(out, "ip saddr "+cfg.clusterCIDR+" jump "+chain)
		}
		return append(out, "fib saddr type local jump "+chain)
	}
	services := []string{ipKey + " vmap @" + affinityIPsMap}
	if cfg.clusterCIDR != "" {
		services = append(services, "ip saddr != "+cfg.clusterCIDR+" "+ipKey+" @"+outsideIPsSet+" jump "+markMasqChain)
	}
	services = append(services,
		ipKey+" @"+masqueradeIPsSet+" jump "+markMasqChain,
		"fib saddr type local "+ipKey+" @"+localPolicyIPsSet+" jump "+markMasqChain)
	services = append(services, fromPods(ipClusterClass)...)
	services = append(services, "jump "+ipClass, nodePort+" jump "+nodePortsChain)
	for _, rule := range services {
		tx.Add(ruleObj(servicesChain, rule))
	}
	nodePorts := []string{
		portKey + " vmap @" + affinityNodePortsMap,
		portKey + " @" + masqueradeNodePortsSet + " jump " + markMasqChain,
		"fib saddr type local " + portKey + " @" + localPolicyNodePortsSet + " jump " + markMasqChain,
	}
	nodePorts = append(nodePorts, fromPods(nodePortClusterClass)...)
	nodePorts = append(nodePorts, "jump "+nodePortClass)
	for _, rule := range nodePorts {
		tx.Add(ruleObj(nodePortsChain, rule))
	}
	tx.Add(ruleObj(markMasqChain, "mark set mark or "+masqueradeMark))

	// Hairpin connections are marked here (after DNAT, their destination is their
	// source); the mark travels with the packet.
	tx.Add(ruleObj(masqueradingChain, "ct status dnat ip saddr . ip daddr @"+hairpinSet+" mark set mark or "+masqueradeMark))
	tx.Add(ruleObj(masqueradingChain, "mark and "+masqueradeMark+" == 0 return"))
	tx.Add(ruleObj(masqueradingChain, "mark set mark xor "+masqueradeMark))
	tx.Add(ruleObj(masqueradingChain, "masquerade fully-random"))

	for _, name := range sizes {
		addSize(tx, name)
	}
	for _, class := range classes {
		writeClassChain(tx, class, sizes, true)
	}
}

// addSize adds the map and chain of a class and number of endpoints (see sizeName):
// the chain DNATs a new connection to the endpoint numgen picks for its traffic key.
//
// Written by nft, in the transaction that creates the map: nft 1.0.6 refuses a rule
// that uses a `typeof … th dport` map read back from the kernel ("conflicting
// protocols"), so the chain is never rewritten, only deleted with its map.
func addSize(tx *knftables.Transaction, name string) {
	class, n, _ := parseSizeName(name)
	key := "ip daddr . meta l4proto . th dport"
	if isNodePortClass(class) {
		key = "meta l4proto . th dport"
	}
	key += fmt.Sprintf(" . numgen random mod %d", n)
	tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: TableName, Name: name, TypeOf: key + " : ip daddr . th dport"})
	tx.Add(chainObj(name))
	tx.Add(ruleObj(name, fmt.Sprintf("meta l4proto { tcp, udp, sctp } dnat ip to %s map @%s", key, name)))
}

// deleteSize deletes the map and chain of an unused size (no jump leads there any
// more: see writeClassChain).
func deleteSize(tx *knftables.Transaction, name string) {
	tx.Flush(chainObj(name))
	tx.Delete(chainObj(name))
	tx.Delete(&knftables.Map{Family: knftables.IPv4Family, Table: TableName, Name: name})
}

// writeClassChain (re)writes class's chain: a jump to the chain of each of sizes (all
// classes' sizes, the others are skipped) of class, fewest endpoints first. A
// connection whose traffic key is in none of their maps comes back.
func writeClassChain(tx *knftables.Transaction, class string, sizes []string, fresh bool) {
	var ns []int
	for _, name := range sizes {
		if c, n, ok := parseSizeName(name); ok && c == class {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	tx.Add(chainObj(class))
	if !fresh {
		tx.Flush(chainObj(class))
	}
	for _, n := range ns {
		tx.Add(ruleObj(class, "jump "+sizeName(class, n)))
	}
}

// deleteTables deletes the tables (whether or not they exist) in tx.
func deleteTables(tx *knftables.Transaction, names []string) {
	for _, table := range names {
		tx.Add(tableObj(table))
		tx.Delete(tableObj(table))
	}
}

// isMap says whether the proxy's set called name is a map.
func isMap(name string) bool {
	if name == affinityIPsMap || name == affinityNodePortsMap {
		return true
	}
	_, _, ok := parseSizeName(name)
	return ok
}

// hairpinElement is ip's element of the hairpin set.
func hairpinElement(ip string) *knftables.Element {
	return &knftables.Element{Family: knftables.IPv4Family, Table: TableName, Set: hairpinSet, Key: []string{ip, ip}}
}

// element is the element k with value; with add false, its deletion.
func element(k elementKey, value string, add bool) *knftables.Element {
	e := &knftables.Element{Family: knftables.IPv4Family, Table: TableName, Key: k.parts()}
	if !isMap(k.set) {
		e.Set = k.set
		return e
	}
	e.Map = k.set
	if add {
		e.Value = strings.Split(value, " . ")
	}
	return e
}
