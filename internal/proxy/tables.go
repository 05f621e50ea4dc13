package proxy

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"
)

// TableName is the proxy's main table, in the ip family: the no-endpoint checks (filter
// hooks) and the masquerade (postrouting). The Services' DNAT rules are spread over
// shard tables named TableName-0 … TableName-(N-1) (see ShardTable). Nothing else
// writes to any of them.
const TableName = "berth-proxy"

// DefaultShards is how many shard tables the Services are spread over unless
// Config.Shards says otherwise; MaxShards is the most a Config may ask for.
//
// Why shards: at commit, nf_tables checks every table a transaction added a jump,
// goto or verdict-map element to (nft_table_validate), walking every chain reachable
// from its base chains through every element of its verdict maps; a one-Service change
// thus costs in proportion to the table it lands in, here ≈1.2-2.4 µs per Service of
// that table. With the Services over N tables it pays for about 1/N of them. Each
// shard adds two NAT base chains that the first packet of every connection passes
// (until one of them translates it), so N is not larger than it needs to be: at
// 10 000 Services (≈310 a shard) a one-Service sync took 0.80, 0.53 and 0.57 ms with
// 16, 32 and 64 shards; see doc.go for the measurements.
const (
	DefaultShards = 32
	MaxShards     = 256
)

// ShardTable is the name of shard table i.
func ShardTable(i int) string { return TableName + "-" + strconv.Itoa(i) }

// IsProxyTable says whether name is the proxy's main table or a shard table (of any
// number of shards).
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

// shardOf is the shard of the Service at key (namespace/name): stable for a given
// number of shards.
func shardOf(key string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(shards))
}

// tables lists the main table and the shard tables of shards shards.
func tables(shards int) []string {
	out := []string{TableName}
	for i := range shards {
		out = append(out, ShardTable(i))
	}
	return out
}

// Objects of the proxy's tables: the transactions span several, so every object names
// its table (the knftables.Interface has no default one).
func tableObj(table string) *knftables.Table {
	return &knftables.Table{Family: knftables.IPv4Family, Name: table}
}

func chainObj(table, name string) *knftables.Chain {
	return &knftables.Chain{Family: knftables.IPv4Family, Table: table, Name: name}
}

func ruleObj(table, chain, rule string) *knftables.Rule {
	return &knftables.Rule{Family: knftables.IPv4Family, Table: table, Chain: chain, Rule: rule}
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
// prerouting (pods, other hosts) and output (the node's own processes), in every shard;
// in the main table the no-endpoint checks before DNAT on input, forward and output
// (reject is not allowed on prerouting) and the masquerade at srcnat on postrouting.
// The filter chains see every packet (the first match, `ct state new`, lets the others
// pass at once): they are in the main table only, not once per shard. The NAT chains
// see only a connection's first packet, and the shards' stop being consulted once one
// of them translated it.
var (
	mainBaseChains = []baseChain{
		{"filter-input", knftables.FilterType, knftables.InputHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
		{"filter-forward", knftables.FilterType, knftables.ForwardHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
		{"filter-output", knftables.FilterType, knftables.OutputHook, knftables.DNATPriority + "-10", "ct state new", endpointsCheckChain},
		{"nat-postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority, "", masqueradingChain},
	}
	shardBaseChains = []baseChain{
		{"nat-prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority, "", servicesChain},
		{"nat-output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority, "", servicesChain},
	}
)

// writeFreshTables replaces whatever proxy tables exist (the main table, the shards and
// leftovers: tables of an earlier run with another number of shards) by empty ones
// with their fixed chains, sets and maps, atomically with the rest of tx.
func writeFreshTables(tx *knftables.Transaction, nodeIPs []string, shards int, leftovers []string) {
	for _, table := range leftovers {
		tx.Add(tableObj(table))
		tx.Delete(tableObj(table))
	}
	writeMainTable(tx, nodeIPs)
	for i := range shards {
		writeShardTable(tx, nodeIPs, i, shards)
	}
}

const (
	ipProtoPort = "ipv4_addr . inet_proto . inet_service : verdict"
	protoPort   = "inet_proto . inet_service : verdict"
)

func freshTable(tx *knftables.Transaction, table, comment string) {
	tx.Add(tableObj(table))
	tx.Delete(tableObj(table))
	t := tableObj(table)
	t.Comment = knftables.PtrTo(comment)
	tx.Add(t)
}

func addBaseChains(tx *knftables.Transaction, table string, chains []baseChain) {
	for _, bc := range chains {
		ch := chainObj(table, bc.name)
		ch.Type, ch.Hook, ch.Priority = knftables.PtrTo(bc.chainType), knftables.PtrTo(bc.hook), knftables.PtrTo(bc.priority)
		tx.Add(ch)
		tx.Add(ruleObj(table, bc.name, knftables.Concat(bc.match, "jump", bc.jump)))
	}
}

// nodePortMatch matches NodePort traffic: to the node's addresses, or to every local
// address but loopback. It writes the set of node addresses into table when needed.
func nodePortMatch(tx *knftables.Transaction, table string, nodeIPs []string) string {
	if len(nodeIPs) == 0 {
		return "fib daddr type local ip daddr != 127.0.0.0/8"
	}
	tx.Add(&knftables.Set{Family: knftables.IPv4Family, Table: table, Name: nodePortIPsSet, Type: "ipv4_addr",
		Comment: knftables.PtrTo("addresses that accept NodePort traffic")})
	for _, ip := range nodeIPs {
		tx.Add(&knftables.Element{Family: knftables.IPv4Family, Table: table, Set: nodePortIPsSet, Key: []string{ip}})
	}
	return "ip daddr @" + nodePortIPsSet
}

// writeMainTable writes the main table: the no-endpoint checks and the masquerade.
func writeMainTable(tx *knftables.Transaction, nodeIPs []string) {
	const t = TableName
	freshTable(tx, t, "berth service proxy")
	for _, name := range []string{endpointsCheckChain, rejectChain, masqueradingChain} {
		tx.Add(chainObj(t, name))
	}
	addBaseChains(tx, t, mainBaseChains)
	tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: t, Name: noEndpointServicesMap, Type: ipProtoPort,
		Comment: knftables.PtrTo("services with no usable endpoints: reject or drop")})
	tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: t, Name: noEndpointNodePortsMap, Type: protoPort,
		Comment: knftables.PtrTo("NodePorts with no usable endpoints: reject or drop")})
	tx.Add(&knftables.Set{Family: knftables.IPv4Family, Table: t, Name: rejectServicesSet, Type: strings.TrimSuffix(ipProtoPort, " : verdict"),
		Comment: knftables.PtrTo("services with no endpoints anywhere: reject")})
	tx.Add(&knftables.Set{Family: knftables.IPv4Family, Table: t, Name: rejectNodePortsSet, Type: strings.TrimSuffix(protoPort, " : verdict"),
		Comment: knftables.PtrTo("NodePorts with no endpoints anywhere: reject")})
	tx.Add(&knftables.Set{Family: knftables.IPv4Family, Table: t, Name: hairpinSet, Type: "ipv4_addr . ipv4_addr",
		Comment: knftables.PtrTo("endpoint . endpoint: connections DNATed to their source, masqueraded")})
	match := nodePortMatch(tx, t, nodeIPs)
	tx.Add(ruleObj(t, endpointsCheckChain, "ip daddr . meta l4proto . th dport @"+rejectServicesSet+" goto "+rejectChain))
	tx.Add(ruleObj(t, endpointsCheckChain, "ip daddr . meta l4proto . th dport vmap @"+noEndpointServicesMap))
	tx.Add(ruleObj(t, endpointsCheckChain, match+" meta l4proto . th dport @"+rejectNodePortsSet+" goto "+rejectChain))
	tx.Add(ruleObj(t, endpointsCheckChain, match+" meta l4proto . th dport vmap @"+noEndpointNodePortsMap))
	// A TCP client gets a reset, everything else ICMP port unreachable: both fail at
	// once with "connection refused" instead of timing out.
	tx.Add(ruleObj(t, rejectChain, "meta l4proto tcp reject with tcp reset"))
	tx.Add(ruleObj(t, rejectChain, "reject"))
	// The shards' mark-for-masquerade chains set the mark; it travels with the packet.
	// Hairpin connections get it here (after DNAT, their destination is their source).
	tx.Add(ruleObj(t, masqueradingChain, "ct status dnat ip saddr . ip daddr @"+hairpinSet+" mark set mark or "+masqueradeMark))
	tx.Add(ruleObj(t, masqueradingChain, "mark and "+masqueradeMark+" == 0 return"))
	tx.Add(ruleObj(t, masqueradingChain, "mark set mark xor "+masqueradeMark))
	tx.Add(ruleObj(t, masqueradingChain, "masquerade fully-random"))
}

// writeShardTable writes shard i's fixed part: the DNAT base chains, the services
// chain with its verdict maps and the chain that marks packets for masquerade.
func writeShardTable(tx *knftables.Transaction, nodeIPs []string, i, shards int) {
	t := ShardTable(i)
	freshTable(tx, t, fmt.Sprintf("berth service proxy: services of shard %d of %d", i, shards))
	for _, name := range []string{servicesChain, markMasqChain} {
		tx.Add(chainObj(t, name))
	}
	addBaseChains(tx, t, shardBaseChains)
	tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: t, Name: serviceIPsMap, Type: ipProtoPort,
		Comment: knftables.PtrTo("ClusterIP and external IP traffic")})
	tx.Add(&knftables.Map{Family: knftables.IPv4Family, Table: t, Name: serviceNodePortsMap, Type: protoPort,
		Comment: knftables.PtrTo("NodePort traffic")})
	match := nodePortMatch(tx, t, nodeIPs)
	tx.Add(ruleObj(t, servicesChain, "ip daddr . meta l4proto . th dport vmap @"+serviceIPsMap))
	tx.Add(ruleObj(t, servicesChain, match+" meta l4proto . th dport vmap @"+serviceNodePortsMap))
	tx.Add(ruleObj(t, markMasqChain, "mark set mark or "+masqueradeMark))
}

// deleteTables deletes the tables (whether or not they exist) in tx.
func deleteTables(tx *knftables.Transaction, names []string) {
	for _, table := range names {
		tx.Add(tableObj(table))
		tx.Delete(tableObj(table))
	}
}

// elementTable is the table of the map an element belongs to: the no-endpoint maps are
// in the main table, the others in the Service's shard.
func elementTable(mapName, shard string) string {
	if mapName == noEndpointServicesMap || mapName == noEndpointNodePortsMap {
		return TableName
	}
	return shard
}

// hairpinElement is ip's element of the hairpin set.
func hairpinElement(ip string) *knftables.Element {
	return &knftables.Element{Family: knftables.IPv4Family, Table: TableName, Set: hairpinSet, Key: []string{ip, ip}}
}

// element is the element k (with verdict) of a Service of the shard table shard; with
// add false, its deletion. A no-endpoint element that rejects is written to the reject
// set of its map instead.
func element(k elementKey, verdict, shard string, add bool) *knftables.Element {
	e := &knftables.Element{Family: knftables.IPv4Family, Table: elementTable(k.mapName, shard), Map: k.mapName, Key: k.parts()}
	if verdict == "goto "+rejectChain {
		switch k.mapName {
		case noEndpointServicesMap:
			e.Map, e.Set = "", rejectServicesSet
		case noEndpointNodePortsMap:
			e.Map, e.Set = "", rejectNodePortsSet
		}
	}
	if add && e.Map != "" {
		e.Value = []string{verdict}
	}
	return e
}
