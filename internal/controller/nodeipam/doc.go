// Package nodeipam is the node IPAM controller: it gives every Node a pod CIDR
// (spec.podCIDR/podCIDRs) carved from the cluster CIDR, one subnet per node and never
// two nodes the same, and takes it back when the node is deleted. Its allocation table
// lives only in memory and is rebuilt from the Nodes on every start, so restarts and
// leader changes neither leak nor duplicate subnets. It is an API client only.
package nodeipam
