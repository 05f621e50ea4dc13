// Package probes is the node agent's Prober (the pods.Prober seam) and the actions probes
// and lifecycle hooks share (exec through the CRI's ExecSync, httpGet, tcpSocket, gRPC
// health) — package hooks runs its actions through Actions too.
//
// One goroutine per probe of a running container instance (startup, readiness,
// liveness) probes it every periodSeconds after a jittered start and initialDelaySeconds,
// each try bounded by timeoutSeconds; successThreshold and failureThreshold turn tries
// into a result. Until the startup probe succeeds the other two do not run. A changed
// result queues the pod's sync (Resync); every failed try is an "Unhealthy" event; a
// liveness (or startup) failure asks the sync loop to restart the container, which it
// does with the "Killing" event. Workers stop when their container instance is no longer
// running (Update), when the pod is forgotten, and when the prober's context ends.
//
// Network probes dial from the agent's network namespace (Actions.Dial), where the pod
// IPs are routed. The package never touches containers itself beyond ExecSync.
package probes
