// Package podnet is a node's share of the cluster network beyond its pod bridge:
//
//   - a way to every other node's pod CIDR, so that pods reach pods on other nodes by
//     their own addresses, without NAT: a plain route through the node's InternalIP, or
//     the VXLAN tunnel (Mode, below);
//   - the tunnel: one VXLAN device (VXLANDevice, VNI 1, UDP 8472, this node's
//     InternalIP as local end, no learning), made only while some node needs it. Its
//     address is the network address of this node's pod CIDR (/32), its MAC derived
//     from the InternalIP (VTEPMAC), so nothing is published through the API: for a
//     peer podnet writes a permanent neighbour (its VTEP address → MAC), a forwarding
//     entry (MAC → its InternalIP) and `<pod CIDR> via <VTEP address> dev berth.1
//     onlink`;
//   - masquerade for pod traffic that leaves the cluster network (table `ip berth-net`),
//     and only for that: a pod on another node sees the client pod's address, through
//     the tunnel too;
//   - MTU: the tunnel's is the InternalIP's link's less 50 (VXLANOverhead). In vxlan
//     mode pods get that MTU too (PodMTU, for the CNI config); in auto mode they keep
//     the link's, for full-size packets to nodes on the link, and TCP through the tunnel
//     has its MSS clamped to the tunnel's MTU (chain forward of berth-net); other
//     oversized packets there get ICMP "fragmentation needed" from the node (PMTU);
//   - bridged pod-to-pod traffic through netfilter (bridge-nf-call-iptables), which
//     service DNAT between two pods of one bridge needs;
//   - addresses the node answers itself (the cluster DNS service IP), on the loopback
//     device, so every pod and the node reach them without leaving the node.
//
// Mode (the agent's --pod-network) picks the way per node, as flannel's vxlan backend
// with DirectRouting does. auto (the default): a node whose InternalIP is on a subnet of
// this node's links gets a plain route (host-gw), any other goes through the tunnel.
// host-gw: plain routes only; nodes off this node's subnets are reported, not reached.
// vxlan: every node through the tunnel (nodes that share no L2 segment, or a network
// that drops packets whose addresses it does not know).
//
// What to do per node is decided by a pure function (DesiredRoutes: nodes, mode and
// this node's subnets in, routes out); syncRoutes reads the kernel's state through
// iproute2 and changes only what differs. Routes carry their own protocol number
// (RouteProtocol), so the agent finds and removes exactly its own. Close removes the
// table, the routes, the VXLAN device and the addresses (unless the agent is asked to
// leave them for the next agent, which then adopts them).
//
// The kernels berth runs on here have VXLAN but no ipip, gre, geneve, wireguard or
// dummy devices; the tunnel is IPv4 only, like the rest of the pod network.
package podnet
