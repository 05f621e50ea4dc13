// Package storagetest is the conformance suite every storage backend must pass: Run takes
// a constructor and checks CRUD with revision guards, consistent paged lists, reads at old
// revisions, compaction, watch replay, isolation, progress, concurrency and cancellation.
//
// It owns the definition of "behaves like etcd" for berth. It must not depend on any
// backend, reach into backend internals, or sleep: every wait is on an event or a
// condition with a deadline. A backend's own quirks are tested in its own package.
package storagetest
