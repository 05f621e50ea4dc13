// Package garbagecollector implements cascading deletion over ownerReferences, as the
// Kubernetes garbage collector does: it watches the metadata of every served resource,
// keeps a graph of owners and dependents, and
//   - deletes dependents whose owners are gone (Background propagation, and dangling
//     references to an owner uid that no longer exists);
//   - for an owner deleted in the foreground (the "foregroundDeletion" finalizer) deletes
//     its dependents first and removes the finalizer once no dependent with
//     blockOwnerDeletion=true is left;
//   - for an owner deleted with the "orphan" finalizer removes the ownerReference to it
//     from every dependent, then the finalizer.
//
// It is an API client only: every change goes through the API server, and the decision
// to delete is always confirmed with a live GET of the owner by uid. The graph is rebuilt
// from the informers on every start, so deletions left half-done while no collector ran
// are finished by the next one. It must not write anything but ownerReferences,
// finalizers and deletes.
package garbagecollector
