// Package simulated runs many simulated nodes in one process: the kubelet's API side
// without containers. For each node it registers a Node (capacity, labels, conditions,
// addresses, nodeInfo as a kubelet reports them), renews its Lease in kube-node-lease,
// turns pods bound to it Running and Ready at once (pod IPs from the node's podCIDR),
// and finishes pod deletion as a kubelet does (containers terminated, then a grace-0
// delete). It exists for scale tests, benchmarks and control-plane tests: node failure
// is one StopNode call away.
//
// It scales by sharing, not by node: one pod informer (spec.nodeName set), one node
// informer, and three work queues (nodes, pods, leases) served by a few workers each;
// lease renewals are spread evenly over the renew interval by a single ticking wheel.
// It is an API client only and knows nothing of containers, CNI or the server.
package simulated
