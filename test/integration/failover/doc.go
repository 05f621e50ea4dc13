// Package failover checks leader failover of the control plane: two or more real
// `berth server` processes on one external etcd, one leading the controllers and the
// scheduler through the Lease kube-system/berth-controller-manager, the others standing
// by. Killing the leader (SIGKILL) hands over within the lease duration, stopping it
// (SIGTERM) hands over as soon as the lease is released, and neither duplicates nor
// loses a pod. It holds tests only.
package failover
