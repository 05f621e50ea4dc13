// Package namespace implements the namespace controller: a namespace being deleted
// (deletionTimestamp set, "kubernetes" in spec.finalizers) has every namespaced object in
// it deleted, is re-examined with backoff until none remains, and is then finalized —
// "kubernetes" is removed through namespaces/<name>/finalize — so the API server deletes
// it. Progress and failures are reported as the namespace status conditions Kubernetes
// uses (NamespaceContentRemaining, NamespaceDeletionContentFailure, ...).
//
// It is an API client only and never creates objects; cascading to dependents in other
// namespaces or cluster scope is the garbage collector's job.
package namespace
