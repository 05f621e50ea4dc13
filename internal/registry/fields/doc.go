// Package fields decides which field selectors each resource accepts and
// what an object's selectable fields are, matching the Kubernetes API server.
//
// Two questions, two functions. ConvertLabel (and Supported, Convert) say
// whether a label may appear in a resource's fieldSelector, with the exact
// error text kube-apiserver answers 400 Bad Request with when it may not:
// "field label not supported: <label>" for kinds with their own conversion,
// and `"<label>" is not a known field selector: only "metadata.name",
// "metadata.namespace"` for every other kind. Set returns the fields.Set an
// object is matched against.
//
// The tables follow k8s.io/kubernetes as it behaves, not as its docs read:
// apps/v1 ReplicaSets reject status.replicas (kubernetes issue #135136) even
// though their selectable fields carry it; the two Event APIs share one
// storage and one set of selectable fields (named as core/v1 names them), but
// each accepts only its own labels — events.k8s.io/v1 takes regarding.* and
// reportingController, maps them to involvedObject.* and reportingComponent,
// and rejects the core/v1 spellings (pkg/apis/events/v1
// AddFieldLabelConversionsForEvent); pods accept status.podIPs but have no
// such selectable field, so only an empty value matches it.
//
// The package owns no state and no HTTP: mapping UnsupportedLabelError to a
// metav1.Status is the API server's job.
package fields
