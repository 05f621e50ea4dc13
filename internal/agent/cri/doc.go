// Package cri is berth's client of the Container Runtime Interface (k8s.io/cri-api
// runtime/v1) over a unix socket — in practice the containerd the agent starts
// (internal/agent/containerd). It owns the gRPC connection, per-call deadlines and error
// wrapping; errors keep their gRPC status so callers can ask IsNotFound.
//
// It must not hold pod or container state: the pod sync loop decides, this package only
// carries the calls. containerd 1.6 serves neither GetContainerEvents nor RuntimeConfig, so
// none are offered here; the agent relists instead.
package cri
