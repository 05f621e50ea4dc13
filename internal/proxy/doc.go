// Package proxy is berth's service proxy: it turns Services and EndpointSlices into
// nftables rules (through sigs.k8s.io/knftables) in one table of its own, `ip berth-proxy`,
// in the network namespace it is given. The design follows kube-proxy's nftables mode:
//
//   - base chains on the prerouting/output (DNAT), postrouting (masquerade) and
//     input/forward/output (reject) hooks jump to a few fixed chains;
//   - verdict maps keyed by (IP, protocol, port) — and (protocol, port) for NodePorts on
//     the node's addresses — send each service port to its own chain, and services with
//     no usable endpoints to a reject (or, for Local policies, drop) verdict;
//   - a service chain balances at random over per-endpoint chains that DNAT, mark
//     hairpin traffic for masquerade and, for sessionAffinity ClientIP, record the client
//     in a per-endpoint set with a timeout. Up to 16 endpoints it picks with a cascade of
//     `numgen random mod N-i == 0 goto …` rules, past that with kube-proxy's
//     `numgen random mod N vmap { … }`: every anonymous map is a set of the table, and
//     the kernel finds sets by walking its list of them, so a map per Service makes
//     writing 10 000 Services cost the square of them;
//   - internalTrafficPolicy/externalTrafficPolicy Local use only this node's endpoints
//     and keep the client's address for external traffic; serving-but-terminating
//     endpoints are used only when a service has no ready ones.
//
// Updates are incremental: the proxy remembers what it wrote for each Service, and a
// change rewrites only that Service's chains and map elements (in one knftables
// transaction per batch of changes). The whole table is rebuilt only at start (or
// after a failed transaction, when its state is no longer known), in a few
// transactions: the first replaces whatever table there was by the fixed chains, sets
// and maps, the next ones add the Services, each whole in one transaction of bounded
// size (see planFull). Until its transaction, a Service has no rules: its traffic
// passes untouched, neither balanced nor rejected. An agent restarting over the table
// of its predecessor thus leaves new connections to services unhandled for the time
// of the Services' transactions (≈1.2 s with 10 000 Services, ≈0.1 s with 1 000;
// established ones keep their conntrack NAT). Should one fail, the next sync rebuilds
// again. The table is deleted when Run returns after its context ends.
//
// Cost: the proxy's own work for one changed Service is O(that Service) (≈0.1 ms,
// flat from 1 000 to 10 000 Services; bench/proxy -null). NewNFTables' table sends
// incremental transactions to the kernel over netlink (package nftlink) rather than
// through the nft binary, which (1.0.6 here) dumps every chain of the namespace into
// its cache before any transaction that adds a rule or element: that cost ≈28 ms per
// one-Service sync at 1 000 Services and ≈210 ms at 10 000. What remains in
// proportion to the table is the kernel's own check at commit: when a transaction adds
// a jump, goto, NAT or verdict-map element, nf_tables walks every chain reachable from
// the base chains, through every element of the verdict maps (nft_table_validate),
// ≈1.5 ms at 1 000 Services and ≈20-50 ms at 10 000 on this machine. Of the rebuild
// only the first transaction runs nft; with 10 000 Services it takes ≈1.2 s (≈1.7 s
// of CPU, most of it in the kernel), where the one transaction of anonymous maps it
// was took ≈24 s.
//
// The node must route the service CIDR (a default route does) and, for pods on one
// bridge, pass bridged traffic through netfilter (net.bridge.bridge-nf-call-iptables=1).
//
// What it does not do: IPv6 (the `ip` family only), NodePorts on 127.0.0.1 (that needs
// route_localnet; like kube-proxy's nftables mode it is not supported),
// loadBalancerSourceRanges, topology-aware hints, conntrack cleanup of stale UDP flows.
// It reads the API only through informers and never writes to it.
package proxy
