// Package etcd is the production storage backend: storage.Interface over an etcd v3 client
// (New), a single-member etcd embedded in the process (StartEmbedded), and a client for an
// external etcd cluster (NewClient; Connect also waits, with a bound, until the cluster
// answers, logging why it does not).
//
// It owns the translation between storage semantics and etcd: compare-and-swap
// transactions, paged range reads at one revision, watches resumed from a revision with
// progress notifications, and the mapping of etcd errors to storage's sentinel errors.
//
// It must not interpret values, know Kubernetes resources or key layouts, log through a
// global logger, or start anything it does not stop: every watch goroutine ends on its
// context, Watch.Stop or Store.Close, and Embedded.Close stops the member.
package etcd
