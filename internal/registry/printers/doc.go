// Package printers builds server-side Tables (meta.k8s.io/v1 Table) for
// `kubectl get`: the columns, column types, descriptions, priorities and
// cells that Kubernetes' own printers (pkg/printers/internalversion) produce,
// written against the versioned k8s.io/api types.
//
// A Registry maps a GroupResource to a Printer; New returns one holding every
// built-in printer, and resources without one get the generic Kubernetes
// table (Name, Created At). Rows always carry every cell, wide ones included:
// like kube-apiserver, the server prints "wide" and kubectl hides columns of
// priority > 0 unless asked for -o wide.
//
// The package owns only presentation. It reads objects and never changes
// them, knows no HTTP, storage or request context, and takes the current
// time as an argument so that ages are deterministic in tests. The API server
// sets ResourceVersion/Continue on the returned Table and maps errors to
// metav1.Status.
package printers
