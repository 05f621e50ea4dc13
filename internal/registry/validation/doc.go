// Package validation checks API objects the way the Kubernetes API server
// does, written against the versioned types of k8s.io/api (core/v1, apps/v1,
// discovery/v1, coordination/v1, events/v1, autoscaling/v1).
//
// Every function returns a field.ErrorList whose field paths, error types and
// message texts follow Kubernetes, so that a user who compares `kubectl`
// output from berth with output from a Kubernetes cluster sees the same
// thing. Where Kubernetes reports a path that does not exist in the v1 object
// (it validates its internal types), the v1 path is used instead.
//
// Validation expects objects after defaulting, as Kubernetes does, with one
// relaxation: an empty value for a field that defaulting always fills (enum
// strings such as restartPolicy, imagePullPolicy, protocol, service type,
// and nil pointers such as terminationGracePeriodSeconds) is accepted as the
// default, so that validating a not-yet-defaulted object never yields a
// spurious "Required value".
//
// The package owns only rules: it does no I/O, holds no state, never mutates
// its inputs and never panics on any input (FuzzValidatePod guards this).
// Name generation, defaulting, allocation of cluster IPs and node ports, and
// resetting of fields a subresource may not change belong to the registry
// strategies that call into this package.
package validation
