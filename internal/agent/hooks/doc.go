// Package hooks runs containers' lifecycle hooks for the sync loop (the pods.Hooks seam):
// postStart right after StartContainer and preStop before StopContainer, each an exec,
// httpGet (to the pod IP unless the hook names a host, from the agent's network
// namespace) or sleep action. The sync loop owns the consequences: a postStart error kills
// the container (FailedPostStartHook), a preStop error is reported (FailedPreStopHook)
// and the grace period left goes to StopContainer.
//
// It shares the exec and HTTP actions with package probes and holds no state.
package hooks
