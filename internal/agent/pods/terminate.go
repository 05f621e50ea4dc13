package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// terminate ends a pod the API is deleting, as the kubelet does: its containers get
// their grace period (preStop, then SIGTERM, SIGKILL when it runs out), the sandbox is
// stopped and removed, volumes and cgroups go, the final status is posted, and the pod
// is deleted for good (grace 0, only this pod's UID).
func (l *Loop) terminate(ctx context.Context, pod *corev1.Pod, rec *podRecord, state podState) error {
	if err := l.killPod(ctx, pod, state, gracePeriod(pod)); err != nil {
		return err
	}
	l.prober.Forget(pod.UID)
	state, err := l.observe(ctx, string(pod.UID))
	if err != nil {
		return err
	}
	if !state.empty() {
		if _, err := l.postStatus(ctx, pod, rec, state, initDoneIn(pod, state), true); err != nil {
			l.log.Debug("final status", "pod", podKey(pod), "err", err)
		}
	}
	if err := l.removeAll(ctx, string(pod.UID), state); err != nil {
		return err
	}
	err = l.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: ptr.To(pod.UID)},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s: %w", podKey(pod), err)
	}
	return nil
}

// finish stops what still runs of a pod that reached Succeeded or Failed and its
// sandbox; the containers stay (logs, status) until the pod is deleted.
func (l *Loop) finish(ctx context.Context, pod *corev1.Pod, state podState) error {
	l.prober.Forget(pod.UID)
	return l.killPod(ctx, pod, state, gracePeriod(pod))
}

// removeOrphan removes everything of a pod the API no longer has (force-deleted, or
// deleted while the agent was down).
func (l *Loop) removeOrphan(ctx context.Context, uid string, state podState) error {
	if err := l.killPod(ctx, nil, state, minGracePeriod); err != nil {
		return err
	}
	if err := l.removeAll(ctx, uid, state); err != nil {
		return err
	}
	l.forget(uid)
	return nil
}

// killPod stops every container that is not exited yet — all at once, so they share
// one grace period, except that sidecars stop only after the other containers, with
// what is left of it (at least minGracePeriod) — then every ready sandbox. pod may be
// nil (orphans: no hooks, no events, no sidecar ordering).
func (l *Loop) killPod(ctx context.Context, pod *corev1.Pod, state podState, grace time.Duration) error {
	start := l.clock.Now()
	errs := make([]error, len(state.containers))
	stop := func(sidecars bool, grace time.Duration) {
		var wg sync.WaitGroup
		for i, c := range state.containers {
			spec := specContainer(pod, c.name)
			if c.exited() || (spec != nil && isSidecar(spec)) != sidecars {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = l.stopContainer(ctx, pod, spec, c.id, grace)
			}()
		}
		wg.Wait()
	}
	stop(false, grace)
	if pod != nil && hasSidecars(pod) {
		stop(true, max(grace-l.clock.Since(start), minGracePeriod))
	}
	for _, sb := range state.sandboxes {
		if sb.ready {
			if err := l.runtime.StopPodSandbox(ctx, sb.id); err != nil && !isNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// stopContainer runs the preStop hook (within the grace period), then stops the
// container with what is left of it.
func (l *Loop) stopContainer(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, id string, grace time.Duration) error {
	if pod != nil && spec != nil {
		l.event(pod, corev1.EventTypeNormal, "Killing", "Stopping container "+spec.Name)
		if spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil {
			start := l.clock.Now()
			hookCtx, cancel := context.WithTimeout(ctx, grace)
			if err := l.hooks.PreStop(hookCtx, pod, spec, id, grace); err != nil {
				l.event(pod, corev1.EventTypeWarning, "FailedPreStopHook", fmt.Sprintf("PreStopHook failed: %v", err))
			}
			cancel()
			grace = max(grace-l.clock.Since(start), minGracePeriod)
		}
	}
	l.cache.markStopped(id)
	if err := l.runtime.StopContainer(ctx, id, grace); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// specContainer finds a container (app or init) of the pod's spec by name.
func specContainer(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// removeAll removes the pod's sandboxes (and with them their containers), stray
// containers, volumes, cgroups and its directory.
func (l *Loop) removeAll(ctx context.Context, uid string, state podState) error {
	for _, sb := range state.sandboxes {
		if err := l.runtime.RemovePodSandbox(ctx, sb.id); err != nil && !isNotFound(err) {
			return err
		}
	}
	for _, c := range state.containers {
		if err := l.runtime.RemoveContainer(ctx, c.id); err != nil && !isNotFound(err) {
			return err
		}
	}
	if err := l.volumes.Teardown(ctx, types.UID(uid)); err != nil {
		return fmt.Errorf("tear down volumes: %w", err)
	}
	if err := l.cgroups.Remove(uid); err != nil {
		return err
	}
	if err := os.RemoveAll(l.podDir(uid)); err != nil {
		return err
	}
	return nil
}

// collectGarbage removes dead containers beyond the two newest instances of each name
// (the newest is the state, the one before it lastState), and dead sandboxes that no
// longer hold a kept container.
func (l *Loop) collectGarbage(ctx context.Context, state podState) {
	keep := map[string]bool{}
	perName := map[string]int{}
	for _, c := range state.containers { // newest first
		perName[c.name]++
		if perName[c.name] <= 2 || !c.exited() {
			keep[c.sandboxID] = true
			continue
		}
		if err := l.runtime.RemoveContainer(ctx, c.id); err != nil && !isNotFound(err) {
			l.log.Debug("remove dead container", "id", c.id, "err", err)
		}
	}
	current := state.current()
	for _, sb := range state.sandboxes {
		if sb == current || sb.ready || keep[sb.id] {
			continue
		}
		if err := l.runtime.RemovePodSandbox(ctx, sb.id); err != nil && !isNotFound(err) {
			l.log.Debug("remove dead sandbox", "id", sb.id, "err", err)
		}
	}
}
