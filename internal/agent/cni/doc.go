// Package cni prepares a berth node's pod network for containerd's CNI plugin: it writes
// the bridge + host-local + portmap conflist for the node's pod CIDR (no loopback plugin:
// containerd sets up lo itself), turns IPv4 forwarding on in the node's network namespace
// (remembering whether it did, so a clean stop can turn it off again) and removes the cni0
// bridge on a clean teardown.
//
// It runs no plugins itself (containerd does, per sandbox) and knows nothing of pods or the
// API; the agent calls it once the Node has a spec.podCIDR.
package cni
