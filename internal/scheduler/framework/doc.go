// Package framework is the pure, deterministic core of the scheduler: the snapshot of
// nodes and their pods (NodeInfo), the per-pod precomputation (PodInfo), the plugin
// interfaces, and the algorithm that runs filters over a sample of nodes, scores the
// feasible ones and picks one — or returns a FitError whose message matches Kubernetes.
//
// Nothing here does I/O, reads clocks or draws random numbers: the same snapshot and pod
// always give the same answer. Callers (package scheduler, tests) own locking.
package framework
