// Package storage defines the key-value contract the API server persists objects through.
//
// Storage knows nothing of HTTP, Kubernetes resources or their rules: it stores opaque bytes
// under string keys and gives every change a cluster-wide, strictly increasing revision
// (the etcd revision), which the API server exposes as resourceVersion.
//
// This package owns the Interface, its value types and the sentinel errors. It must not
// import a backend, decode objects, or know key layouts beyond "a prefix is a string".
// Backends live in subpackages (etcd for production, memory for unit tests) and must all
// pass storagetest.Run; only the API server calls storage, and only it maps these errors
// to API statuses.
package storage
