// Package proxy is berth's service proxy: it turns Services and EndpointSlices into
// nftables rules (through sigs.k8s.io/knftables) in tables of its own, in the network
// namespace it is given. The design follows kube-proxy's nftables mode, with the
// Services spread over shard tables:
//
//   - the main table `ip berth-proxy` holds what every packet or every Service shares:
//     filter base chains on input, forward and output (before DNAT; `ct state new`
//     first, so established traffic passes at once) that reject or drop connections to
//     services without usable endpoints, and the masquerade at srcnat on postrouting;
//   - shard tables `ip berth-proxy-0` … `berth-proxy-N-1` (N = Config.Shards, default
//     32) each hold the Services whose namespace/name hashes to them (FNV-1a mod N):
//     NAT base chains on prerouting and output, a services chain with verdict maps
//     keyed by (IP, protocol, port) — and (protocol, port) for NodePorts on the node's
//     addresses — sending each service port to its own chain, a mark-for-masquerade
//     chain and the Services' chains and affinity sets. A jump cannot leave its table,
//     so each shard has its own copy of the fixed part;
//   - a service chain balances at random over the endpoints: up to 16 endpoints with a
//     cascade of `numgen random mod N-i == 0` rules, past that with kube-proxy's
//     `numgen random mod N vmap { … }` (every anonymous map is a set of its table, and
//     the kernel finds sets by walking its list of them, so a map per Service would make
//     writing 10 000 Services cost the square of them). Without session affinity and
//     up to 16 endpoints the cascade DNATs itself; otherwise it goes to per-endpoint
//     chains, which DNAT and, for sessionAffinity ClientIP, record the client in a
//     per-endpoint set with a timeout;
//   - hairpin traffic (a pod reaching itself through its Service) is masqueraded at
//     postrouting when `ct status dnat` and `ip saddr . ip daddr` is in the main
//     table's hairpin set (an element per endpoint address, while a Service needs it);
//   - internalTrafficPolicy/externalTrafficPolicy Local use only this node's endpoints
//     and keep the client's address for external traffic; serving-but-terminating
//     endpoints are used only when a service has no ready ones. No endpoints anywhere:
//     the address is in the main table's reject-services (reject-nodeports) set and
//     the connection is refused; none on this node under a Local policy: a drop
//     element in no-endpoint-services (no-endpoint-nodeports).
//
// Ownership of verdict-map elements is global: two Services claiming one address and
// port (an external IP, say) are resolved in the proxy's state, the first keeps it,
// even when they live in different shards (where both elements would match).
//
// Updates are incremental: the proxy remembers what it wrote for each Service, and a
// change rewrites only that Service's chains and elements (in one transaction per batch
// of changes, spanning the tables it touches: its shard, and the main table's sets and
// maps when its no-endpoint or hairpin elements change). The tables are rebuilt only
// at start (or after a failed transaction, when their state is no longer known), in a
// few transactions: the first replaces whatever proxy tables there were (also shard
// tables of an earlier run with another N, and the single table of older versions) by
// the fixed part, the next ones add the Services, shard by shard, each Service whole
// in one transaction of bounded size (see planFull). Until its transaction, a Service
// has no rules: its traffic passes untouched, neither balanced nor rejected. An agent
// restarting over the tables of its predecessor thus leaves new connections to
// services unhandled for the time of the Services' transactions (≈0.9 s with 10 000
// Services, ≈0.1 s with 1 000; established ones keep their conntrack NAT). Should one
// fail, the next sync rebuilds again. Every proxy table is deleted when Run returns
// after its context ends (unless KeepRules).
//
// Cost of a one-Service sync. The proxy's own work is O(that Service) (≈0.04 ms, flat
// from 1 000 to 10 000 Services; bench/proxy -null). NewNFTables sends incremental
// transactions over netlink (package nftlink) rather than through the nft binary,
// which (1.0.6 here) dumps every chain of the namespace into its cache first (≈28 ms at
// 1 000 Services, ≈210 ms at 10 000). In the kernel (6.18 here), a commit costs:
//
//   - a check of each table the transaction added a jump, goto, NAT statement or
//     verdict-map element to (nft_table_validate; tables not marked are skipped): a
//     walk of every chain reachable from its base chains, through every element of its
//     verdict maps, ≈1.2-2.4 µs per Service of that table (with a chain per
//     endpoint). With one table this was ≈23 ms at 10 000 Services; a shard holds 1/N
//     of them (≈0.3 ms at 10 000, 32 shards). Adding an element to a plain set checks
//     nothing: hence the reject and hairpin sets (a goto to the reject chain as a
//     verdict-map element made every rejected Service part of the check);
//   - a walk over every chain of every table of the namespace (nf_tables_commit, to
//     publish the new rule generation), ≈20 ns a chain here: ≈0.2 ms with 10 000
//     Services of two endpoints (one chain each), 0.6 ms when each endpoint had a
//     chain too. No table layout avoids it; fewer chains do.
//
// Measured with `go run ./bench/proxy -services 1000,10000` (2 endpoints a Service,
// root, lab namespaces), one-Service sync p50 / full sync at start, back to back at
// load average ≈1.0-1.2 (uptime):
//
//	                                   1 000 Services      10 000 Services
//	one table, chain per endpoint      1.34 ms / 172 ms    26.8 ms / 1518 ms
//	32 shards, chain per endpoint      0.25 ms / 155 ms     1.11 ms / 1326 ms  (load ≈1.7)
//	32 shards, fewer chains            0.18 ms / 121 ms     0.59 ms /  855 ms
//
// of which the proxy's own work is 0.03-0.04 ms (-null). The restart (a rebuild over
// the tables a stopped proxy left) took 134 and 865 ms; request latency through a
// ClusterIP against the pod IP, ratio p50 0.97 on a new connection each and 1.01 kept
// alive (1.03 and 1.01 with one table). With -shards 16/32/64 at 10 000 Services the
// sync p50 was 0.80, 0.53 and 0.57 ms (one run each, load ≈1.3; with a chain per
// endpoint: 1 shard 30.6 ms, 8 shards 2.4 ms): more shards buy nothing past 32,
// while each adds two NAT base chains that a connection's first packet passes until
// one shard translates it (no difference in the latency figures, within the noise of
// this shared machine, from 1 to 64 shards). The experiment behind this layout: in
// one namespace, a table of 10 000 Services and small ones beside it; adding a goto
// element to the big one cost 23 ms, to a small one (10 Services) 0.8 ms; with 30 000
// empty chains in another table instead, 0.62 ms, and 0.02 ms with nothing else there.
//
// The node must route the service CIDR (a default route does) and, for pods on one
// bridge, pass bridged traffic through netfilter (net.bridge.bridge-nf-call-iptables=1).
//
// What it does not do: IPv6 (the `ip` family only), NodePorts on 127.0.0.1 (that needs
// route_localnet; like kube-proxy's nftables mode it is not supported),
// loadBalancerSourceRanges, topology-aware hints, conntrack cleanup of stale UDP flows,
// changing the number of shards without a rebuild. It reads the API only through
// informers and never writes to it.
package proxy
