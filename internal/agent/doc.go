// Package agent is berth's real node agent (the kubelet's role) on containerd: it joins
// the cluster (the node token traded once for a system:node:<name> certificate stored in
// <data-dir>/agent), starts and supervises containerd (internal/agent/containerd),
// registers the Node and heartbeats it (internal/agent/node), waits for node IPAM's
// spec.podCIDR, configures the pod network (internal/agent/cni) and runs the pod sync
// loop (internal/agent/pods) until its context ends.
//
// The same Agent runs inside `berth server` (unless --disable-agent) and as
// `berth agent --server URL --token-file F`; in both it is only an API client with its
// own node credential. Simulated nodes are a different package (internal/agent/simulated).
//
// It wires; it decides nothing about pods itself.
package agent
