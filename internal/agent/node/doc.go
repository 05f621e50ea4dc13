// Package node is the API side of a real berth node: it registers the Node (capacity and
// allocatable read from the machine, addresses, nodeInfo, the runtime's images), keeps its
// conditions (Ready from the runtime's health; Memory/Disk/PIDPressure from /proc and
// statfs against the kubelet's default eviction thresholds) and renews its Lease in
// kube-node-lease. It waits for node IPAM to give the node a spec.podCIDR.
//
// It is an API client only: it reads the machine but starts nothing and touches no pods.
package node
