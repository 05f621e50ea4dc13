// Package containerd runs the node's containerd for the berth agent: it writes
// containerd's configuration (the settings DESIGN.md measured as required on these
// machines), starts /usr/bin/containerd as a child in its own process group with private
// root, state and socket under <data-dir>/containerd, waits until the CRI answers, restarts
// it with backoff when it dies, imports the images the node must always have (berth's
// pause image) and stops it on shutdown — or leaves it, and the pods, running.
//
// A containerd left running by an earlier agent is adopted rather than started twice.
// Image import goes through `ctr images import` (shipped with containerd): the containerd
// Go client is not a dependency of berth, and ctr's importer is the reference
// implementation of OCI and docker archive import.
//
// It must not decide anything about pods; that is the pod sync loop's job over
// internal/agent/cri.
package containerd
