// Package replicaset keeps the pods of a ReplicaSet (apps/v1) or a ReplicationController
// (core/v1) at the requested count. One controller implementation serves both kinds through
// a small adapter that presents a ReplicationController as a ReplicaSet.
//
// The loop is informer → workqueue → sync(key). A sync claims the pods the workload owns
// (adopting matching orphans, releasing owned pods that no longer match), creates or deletes
// pods to reach spec.replicas, and writes status. Expectations (pods created or deleted but
// not yet seen by the informer) keep a sync from acting twice on the same shortfall, so the
// controller never overshoots. Creation runs in slow-start batches (1, 2, 4, …) so one
// persistent error costs one request, not hundreds.
//
// The package is an API client only: it never touches storage and never deletes a
// workload's pods when the workload goes away — that is the garbage collector's job.
// It also exports the ownership helpers (Claim, IsPodReady, IsPodAvailable) the deployment
// controller shares.
package replicaset
