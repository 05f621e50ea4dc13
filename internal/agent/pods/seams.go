package pods

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/cri"
)

// Runtime is the part of the CRI the sync loop uses; *cri.Client has it (unit tests use
// a fake).
type Runtime interface {
	RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig, runtimeHandler string) (string, error)
	StopPodSandbox(ctx context.Context, podSandboxID string) error
	RemovePodSandbox(ctx context.Context, podSandboxID string) error
	PodSandboxStatus(ctx context.Context, podSandboxID string, verbose bool) (*runtimeapi.PodSandboxStatusResponse, error)
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	CreateContainer(ctx context.Context, podSandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	StartContainer(ctx context.Context, containerID string) error
	StopContainer(ctx context.Context, containerID string, grace time.Duration) error
	RemoveContainer(ctx context.Context, containerID string) error
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	// The relist's lists: ID, state and the pod UID label of everything, decoded cheaply.
	ListPodSandboxSummaries(ctx context.Context, label string) ([]cri.Summary, error)
	ListContainerSummaries(ctx context.Context, label string) ([]cri.Summary, error)
	ContainerStatus(ctx context.Context, containerID string, verbose bool) (*runtimeapi.ContainerStatusResponse, error)
	PullImage(ctx context.Context, image string, auth *runtimeapi.AuthConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	ImageStatus(ctx context.Context, image string) (*runtimeapi.Image, error)
}

// VolumeManager makes a pod's volumes ready on the node before its containers start and
// removes them once the pod's sandbox is gone (see doc.go for the contract).
type VolumeManager interface {
	// Setup prepares every volume of pod and returns each volume's host path by volume
	// name. It runs before every container start, so it must be idempotent and cheap
	// once done; an error keeps the containers waiting (FailedMount event) and the sync
	// retries with backoff.
	Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error)
	// Teardown removes what Setup made for the pod. It runs after the sandbox is removed
	// (also for pods the API no longer has) and must succeed when nothing is there.
	Teardown(ctx context.Context, podUID types.UID) error
}

// RunningContainer is a container the prober may probe.
type RunningContainer struct {
	ID        string // CRI container ID
	Name      string
	StartedAt time.Time
	Attempt   uint32 // restart count of this instance; a new instance resets probe state
}

// ProbeResult is what the prober knows of one running container.
type ProbeResult struct {
	// Ready: the readiness probe passes (or there is none and the container started).
	Ready bool
	// Started: the startup probe passed (or there is none).
	Started bool
	// LivenessFailed asks the sync loop to kill and restart the container.
	LivenessFailed bool
	// Message explains a liveness failure (the Killing event's text).
	Message string
}

// Prober runs readiness, liveness and startup probes (see doc.go). The sync loop tells
// it which containers run at every sync and asks for results when it builds the status.
type Prober interface {
	// Update hands the prober the pod's running app containers (by name). Containers no
	// longer listed stop being probed.
	Update(pod *corev1.Pod, running map[string]RunningContainer)
	// Result for a running container of the pod.
	Result(podUID types.UID, container string, running RunningContainer) ProbeResult
	// Forget drops every probe of the pod (it terminated or is gone).
	Forget(podUID types.UID)
}

// Hooks runs container lifecycle hooks (see doc.go).
type Hooks interface {
	// PostStart runs right after StartContainer; an error kills the container
	// (FailedPostStartHook) and the restart policy applies.
	PostStart(ctx context.Context, pod *corev1.Pod, container *corev1.Container, containerID string) error
	// PreStop runs before StopContainer, within grace (the container's grace period);
	// its error is only reported (FailedPreStopHook).
	PreStop(ctx context.Context, pod *corev1.Pod, container *corev1.Container, containerID string, grace time.Duration) error
}

// EnvResolver computes a container's environment (env, envFrom) as the kubelet does.
type EnvResolver interface {
	// Env returns the container's variables in order. podIPs are the sandbox's IPs.
	Env(ctx context.Context, pod *corev1.Pod, container *corev1.Container, podIPs []string) ([]*runtimeapi.KeyValue, error)
}

// Resync queues a pod's sync (probers call it when a result changes).
type Resync func(podUID types.UID)
