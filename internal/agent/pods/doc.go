// Package pods is the node agent's pod sync loop: it makes the containers on this node
// match the pods the API binds to it, and reports their status and events as the kubelet
// does.
//
// # Shape
//
// A pod informer (spec.nodeName = this node) and a relist of the runtime every second
// (containerd 1.6 has no container events; PLEG-style: every sandbox and container is
// listed and pods whose runtime objects changed are queued) feed one work queue keyed by
// pod UID. Each pod the queue hands out is synced in a goroutine of its own, at most
// Config.Workers at once (idle pods cost no goroutine). sync(uid) is level-triggered
// and idempotent: it reads the
// pod from the informer and the pod's sandboxes and containers afresh from the CRI
// (labels io.kubernetes.pod.uid / io.kubernetes.container.name, attempt and restart count
// in metadata and annotations, so a restarted agent re-adopts everything it finds and
// restarts nothing healthy), acts, reads again and posts the status. The queue never
// syncs one pod twice at once. Back-offs (crash loop, image pulls, failed
// creations) requeue the pod for the moment they end.
//
// # Seams for volumes, probes, hooks and env
//
// The loop declares small interfaces (seams.go) and starts with simple implementations;
// fuller ones plug in through Config (and agent.Options) without touching the loop:
//
//   - VolumeManager (internal/agent/volumes): Setup(ctx, pod) → host path per volume
//     name, called before every container start (idempotent; an error is a FailedMount
//     event, the containers wait in ContainerCreating and the sync retries with
//     back-off); Teardown(ctx, uid) after the sandbox is removed, also for pods the API
//     no longer has. The loop turns volumeMounts (subPath, readOnly, propagation) into
//     CRI mounts from those paths. Built in: EmptyDirVolumes (emptyDir on disk or tmpfs).
//   - Prober (internal/agent/probes): built by Config.NewProber(resync) so it can queue
//     a pod when a result changes; Update(pod, running) at every sync with the running
//     app containers (ID, start time, attempt — a new attempt is a new container), Result
//     for each running container when the status is built (Ready, Started,
//     LivenessFailed → the loop kills the container with a Killing event and the restart
//     policy applies), Forget when the pod ends. Built in: ReadyWhenRunning.
//   - Hooks (internal/agent/hooks): PostStart right after StartContainer (an error kills
//     the container: FailedPostStartHook), PreStop before StopContainer within the grace
//     period (what is left of it goes to StopContainer). Built in: NoHooks.
//   - EnvResolver: Env(ctx, pod, container, podIPs) → the container's variables; the
//     loop expands $(VAR) in command and args with them. Built in: APIEnv (value,
//     fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef, envFrom through the API).
//
// # What it must not do
//
// It does not start containerd, configure CNI or touch the Node object (package agent
// wires those); it holds no state that a restart could not rebuild from the API and the
// runtime.
package pods
