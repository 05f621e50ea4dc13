package hooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/probes"
)

// Sandboxes finds a pod's IP when its status has none yet (the first start).
type Sandboxes interface {
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	PodSandboxStatus(ctx context.Context, podSandboxID string, verbose bool) (*runtimeapi.PodSandboxStatusResponse, error)
}

// Hooks is the agent's pods.Hooks.
type Hooks struct {
	Actions probes.Actions
	// Sandboxes may be nil (then only the pod status's IP is used).
	Sandboxes Sandboxes
}

// PostStart runs the container's postStart hook; an error is the hook's failure.
func (h Hooks) PostStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, containerID string) error {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return nil
	}
	if err := h.run(ctx, pod, c, containerID, c.Lifecycle.PostStart, 0); err != nil {
		return fmt.Errorf("PostStartHook failed: %w", err)
	}
	return nil
}

// PreStop runs the container's preStop hook within grace.
func (h Hooks) PreStop(ctx context.Context, pod *corev1.Pod, c *corev1.Container, containerID string, grace time.Duration) error {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	return h.run(ctx, pod, c, containerID, c.Lifecycle.PreStop, grace)
}

// run runs one handler; timeout 0 leaves only ctx as the bound (postStart has none in
// Kubernetes either).
func (h Hooks) run(ctx context.Context, pod *corev1.Pod, c *corev1.Container, containerID string, handler *corev1.LifecycleHandler, timeout time.Duration) error {
	switch {
	case handler.Exec != nil:
		err := h.Actions.RunExec(ctx, probes.Target{Pod: pod, Container: c, ContainerID: containerID}, handler.Exec.Command, timeout)
		return trimFailed(err)
	case handler.HTTPGet != nil:
		target := probes.Target{Pod: h.withIP(ctx, pod), Container: c, ContainerID: containerID}
		if timeout == 0 {
			timeout = time.Minute
		}
		return trimFailed(h.Actions.RunHTTPGet(ctx, target, handler.HTTPGet, timeout))
	case handler.Sleep != nil:
		t := time.NewTimer(time.Duration(handler.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			// Sleeping out the grace period is not a failure.
			return nil
		}
	case handler.TCPSocket != nil:
		return errors.New("tcpSocket lifecycle hooks are deprecated and not supported")
	}
	return errors.New("lifecycle hook has no action")
}

func trimFailed(err error) error {
	if errors.Is(err, probes.ErrFailed) {
		return errors.New(err.Error()[len(probes.ErrFailed.Error())+2:])
	}
	return err
}

// withIP returns pod with status.podIP filled from its ready sandbox when missing.
func (h Hooks) withIP(ctx context.Context, pod *corev1.Pod) *corev1.Pod {
	if pod.Status.PodIP != "" || h.Sandboxes == nil {
		return pod
	}
	list, err := h.Sandboxes.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(pod.UID)},
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	})
	if err != nil || len(list) == 0 {
		return pod
	}
	st, err := h.Sandboxes.PodSandboxStatus(ctx, list[0].Id, false)
	if err != nil || st.GetStatus().GetNetwork().GetIp() == "" {
		return pod
	}
	withIP := pod.DeepCopy()
	withIP.Status.PodIP = st.GetStatus().GetNetwork().GetIp()
	return withIP
}
