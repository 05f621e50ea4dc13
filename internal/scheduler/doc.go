// Package scheduler is the default scheduler of berth ("default-scheduler"): it watches
// pods and nodes through informers, keeps an incremental snapshot of the cluster (with
// assumed pods, so back-to-back decisions see each other before a binding is observed),
// orders pending pods in a priority queue, asks the pure core (package framework with the
// plugins of package plugins) for a node, and binds through pods/binding.
//
// It is an API client only: it never touches storage. The core it calls does no I/O; all
// writes (bindings, PodScheduled conditions, events) happen here, off the scheduling loop.
package scheduler
