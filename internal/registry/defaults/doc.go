// Package defaults fills in the fields the Kubernetes API server defaults
// on create and update, working directly on the versioned k8s.io/api types.
//
// It mirrors k8s.io/kubernetes pkg/apis/{core,apps,discovery}/v1 defaults.go
// together with the generated zz_generated.defaults.go walkers that recurse
// into nested types (containers, probes, volumes, pod templates, claim
// templates), and the +default markers in k8s.io/api v0.37.2. Pod templates
// get only the PodSpec defaults, exactly as upstream: requests copied from
// limits, enableServiceLinks and host-network host ports are Pod-only.
//
// Because berth has no internal API version, a write in berth never makes
// the v1 → internal → v1 round trip that normalises a few aliased fields in
// Kubernetes. The functions here do that normalisation too (see
// roundtrip.go): spec.serviceAccount/serviceAccountName, status.podIP/podIPs
// and hostIP/hostIPs, node spec.podCIDR/podCIDRs, and Secret stringData.
//
// Apply dispatches by Go type and is what the registry calls on every create
// and update. Some upstream behaviour belongs to admission plugins or to a
// strategy's PrepareForCreate rather than to defaulting; those are separate
// exported functions (DefaultTolerationSeconds, DefaultServiceAccount,
// NamespaceOnCreate) that Apply does not call, so the registry decides when
// they run. The Priority admission plugin reads PriorityClasses, so it lives
// in the registry, not here.
//
// Not done here, on purpose: IP family policy/families, cluster IPs and node
// ports of Services (the allocator owns them), status.phase Pending of a new
// Pod (the pod strategy), service-account token volumes (admission), and
// API groups berth does not serve. The package has no state and no globals;
// every function is safe for concurrent use on distinct objects.
package defaults
