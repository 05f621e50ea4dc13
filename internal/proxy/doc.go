// Package proxy is berth's service proxy: it turns Services and EndpointSlices into
// nftables rules (through sigs.k8s.io/knftables) in a table of its own, `ip
// berth-proxy`, in the network namespace it is given. It does what kube-proxy's
// nftables mode does, but with a fixed set of chains: a Service is elements in shared
// sets and maps, not chains of its own, so that a one-Service change costs the same
// with 10 000 Services as with 10.
//
//   - filter base chains on input, forward and output (before DNAT; `ct state new`
//     first, so established traffic passes at once) reject connections to services
//     without endpoints (sets reject-services, reject-nodeports) and drop those with
//     no endpoint on this node under a Local policy (drop-services, drop-nodeports);
//   - NAT base chains on prerouting and output jump to `services`, which marks for
//     masquerade by set membership of the traffic key (`ip daddr . meta l4proto . th
//     dport`, or `meta l4proto . th dport` for NodePorts on the node's addresses):
//     ClusterIPs from outside the cluster CIDR (masquerade-outside), external IPs and
//     NodePorts under the Cluster policy (masquerade-ips, masquerade-nodeports), and
//     under the Local policy when the node itself is the client (local-policy-*);
//   - then it DNATs through the class chains: svc-ip (a ClusterIP: the internal
//     policy's endpoints; an external IP: the external policy's), svc-nodeport, and for
//     Local-policy external traffic from pods or the node itself (kube-proxy's
//     short-circuit) svc-ip-cluster and svc-nodeport-cluster, which hold only such keys.
//     A class chain jumps to one chain per number of endpoints N in use, say svc-ip-3:
//     `dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map
//     @svc-ip-3`, whose map holds, for every traffic key of 3 endpoints, the elements
//     KEY . 0, KEY . 1, KEY . 2 → ENDPOINT-IP . PORT: random balancing, each endpoint
//     1/N. A connection passes the chains of the smaller N first, a failed hash lookup
//     each;
//   - Services with sessionAffinity ClientIP keep kube-proxy's chains (a service chain
//     sending a known client to its endpoint's chain, which records it in a set with
//     a timeout), reached through the verdict maps affinity-ips and affinity-nodeports
//     before anything else: they are expected to be few, and only they add chains;
//   - hairpin traffic (a pod reaching itself through its Service) is masqueraded at
//     postrouting when `ct status dnat` and `ip saddr . ip daddr` is in the hairpin set
//     (an element per endpoint address, while a Service needs it);
//   - internalTrafficPolicy/externalTrafficPolicy Local use only this node's endpoints
//     and keep the client's address for external traffic; serving-but-terminating
//     endpoints are used only when a service has no ready ones.
//
// A traffic key belongs to one Service: two Services claiming one address and port (an
// external IP, say) are resolved in the proxy's state, the first keeps every element
// of it, the other gets it when the first lets go.
//
// Updates are incremental: the proxy remembers what it wrote for each Service, and a
// change adds and deletes only that Service's elements (in one transaction per batch
// of changes, sent over netlink by package nftlink). A Service whose number of
// endpoints no other Service has needs a new class map and chain: that transaction
// runs through the nft binary (nft 1.0.6 here refuses a rule using a `typeof … th
// dport` map it reads back from the kernel, so the map is created with its chain and
// rule, and nftlink does not write typeof maps), ≈5-20 ms once; a class map unused for
// staleChainDelay is deleted. The table is rebuilt only at start (or after a failed
// transaction, when its state is no longer known): the first transaction replaces
// whatever proxy tables there were (the shard tables of older versions too) by the
// fixed part and the class maps in use, the next ones add the Services' elements in
// transactions of bounded size (see planFull). Until its transaction, a Service has
// no rules: its traffic passes untouched, neither balanced nor rejected. Every proxy
// table is deleted when Run returns after its context ends (unless KeepRules).
//
// Cost of a one-Service sync. The proxy's own work is O(that Service) (≈0.04 ms, flat
// from 1 000 to 10 000 Services; bench/proxy -null). In the kernel (6.18 here), a
// commit
//
//   - walks every chain of every table of the namespace (nf_tables_commit, to publish
//     the new rule generation), ≈20 ns a chain: with a chain per Service this grew with
//     the Services (0.2-0.6 ms at 10 000); now the chains are the fixed ones and the
//     class chains (a few per number of endpoints in use) and the affinity Services';
//   - checks the table when the transaction added a jump, goto, NAT statement or
//     verdict-map element (nft_table_validate: a walk of every chain reachable from the
//     base chains through every element of its verdict maps, ≈0.04 µs a goto element,
//     more with a chain behind each). Elements of sets and data maps do not trigger
//     it: a Service without affinity never does. An affinity Service's change does,
//     and then costs in proportion to the affinity Services;
//   - adds or deletes elements of hash sets and maps: ≈10 µs for a Service of two
//     endpoints, the same with 2 000 or 20 000 elements in the maps. (Interval maps,
//     which would have let a map hold a range of numgen values per endpoint, are not
//     flat here: an element added to a concatenated interval map of 2 000 elements
//     took ≈20 ms (pipapo), to a 16-byte rbtree interval set of 20 000 ≈0.9 ms.)
//
// Measured with `go run ./bench/proxy -services 1000,10000 -changes 100` (2
// endpoints a Service, one of them changing between 2 and 3; root, lab namespaces),
// the previous design (32 shard tables, a chain per Service) and this one back to
// back, load average 1.0-1.9 (uptime), one-Service sync p50 / p90 / max, full sync at
// start:
//
//	                     1 000 Services                  10 000 Services
//	shards, chains       0.28 / 0.49 / 10.3 ms, 130 ms    0.57 / 0.71 / 113 ms, 908 ms
//	                     0.19 / 0.25 / 10.2 ms, 131 ms    0.60 / 0.76 / 127 ms, 923 ms
//	class maps           0.12 / 0.27 / 18.8 ms,  72 ms    0.14 / 0.23 /  8.5 ms, 571 ms
//	                     0.12 / 0.23 / 17.6 ms,  62 ms    0.12 / 0.22 / 113  ms, 527 ms
//	                     0.18 / 0.24 / 18.5 ms,  80 ms    0.17 / 0.32 / 17.9 ms, 431 ms
//
// The max of the class maps is the one sync that ran nft (the first Service with 3
// endpoints: its class map); the longest of the other 99 was 0.36-1.98 ms. The old
// max (≈110 ms at 10 000, also with -null, which now gives 0.11 ms) was the first
// incremental sync after the start recomputing every Service: the informers had
// queued them all while listing, and the full sync left them in the queue (Run now
// drains it first). Request latency through a ClusterIP against the pod IP, with
// 10 000 Services: ratio p50 1.02 on a new connection each, 1.01 kept alive (1.06
// and 1.00 before). The restart (a rebuild over the table a stopped proxy left) took
// 394-441 ms at 10 000 (921-1159 ms before).
//
// The node must route the service CIDR (a default route does) and, for pods on one
// bridge, pass bridged traffic through netfilter (net.bridge.bridge-nf-call-iptables=1).
//
// What it does not do: IPv6 (the `ip` family only), NodePorts on 127.0.0.1 (that needs
// route_localnet; like kube-proxy's nftables mode it is not supported),
// loadBalancerSourceRanges, topology-aware hints, conntrack cleanup of stale UDP flows.
// It reads the API only through informers and never writes to it.
package proxy
