// Package endpointslice publishes the pods behind every Service with a selector: as
// discovery.k8s.io/v1 EndpointSlices (the EndpointSlice controller) and as legacy core/v1
// Endpoints for old clients (the Endpoints controller). Both loops share the shape
// informer → workqueue keyed by Service → sync(ctx, key), and the pod rules (which pods are
// endpoints, their readiness, hostnames, per-pod resolution of named target ports).
//
// The slice reconciler (reconcile.go) is pure: desired endpoints grouped by port set plus
// the existing slices in, creates/updates/deletes out. It follows upstream's reconciler for
// minimal churn: endpoints stay in the slice that holds them, changed slices are filled
// first, a small remainder goes into the fullest unchanged slice that fits, and a delete
// paired with a create becomes an update.
//
// Churn is coalesced: pod events for a Service are deduplicated by the workqueue and may be
// delayed by a batch period; syncs read informer caches only and write only objects whose
// content changed. A tracker of the slices this controller wrote stops a sync from acting on
// a cache that has not yet seen them (which would duplicate slices).
//
// A third, small loop (apiserver.go) publishes the API server's own address as the
// endpoints of the selectorless default/kubernetes Service, as kube-apiserver does; it
// publishes nothing while the server is reached on loopback, which cannot be an endpoint.
//
// The package is an API client only. It manages only slices labelled as its own
// (endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io); slices and
// Endpoints of Services without a selector belong to their users and are left alone.
// Deleting a Service deletes its slices and Endpoints here too, without waiting for the
// garbage collector.
package endpointslice
