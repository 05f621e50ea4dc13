// Package framework runs berth's end-to-end tests against real containerd, runc and CNI
// plugins. They need root and the Debian packages hack/lib.sh lists; without them every
// test skips and says what is missing.
//
// Each Node gets its own network namespace (ip netns add), its own data dir, containerd
// started there through internal/agent/containerd, a CNI bridge conflist for its pod CIDR,
// and a cgroup parent for its pods. Cleanup removes everything a node made: sandboxes (over
// CRI), containerd and leftover shims and containers (by PID), mounts under the data dir,
// the cgroups, the network namespace (and with it the bridge, veths and nft/iptables rules),
// CNI cache entries, and checks that the host's ip_forward is what it was.
package framework
