// Package nodelifecycle is the node lifecycle controller. From the node Leases (and the
// kubelet's Ready condition) it decides whether each node is alive: a node whose Lease has
// not been renewed for the grace period gets its conditions set to Unknown. It keeps the
// controller-owned taints in step with the conditions (not-ready, unreachable,
// unschedulable, pressure), evicts pods from NoExecute-tainted nodes once their
// tolerations run out, marks pods on unreachable nodes not ready, and deletes pods whose
// node is gone. It is an API client only; all decisions are pure functions of the
// observed objects and a clock (decisions.go), so they are unit-tested with a fake clock.
package nodelifecycle
