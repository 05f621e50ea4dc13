// Package memory is an in-memory storage.Interface with etcd's revision semantics: one
// revision counter, per-key create and modify revisions, multi-version reads for lists at
// a past revision, an event history for watches from a past revision, and compaction.
//
// It exists only for fast unit tests and must pass the same storagetest suite as the etcd
// backend. It must not be wired into a server: it has no durability, and its history is
// bounded by Options.HistoryLimit rather than by compaction policy.
package memory
