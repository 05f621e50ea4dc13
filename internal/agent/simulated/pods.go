package simulated

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// syncPod brings one pod bound to a simulated node where its kubelet would take it:
// Running and Ready with an IP, or — once it is being deleted — terminated and gone.
func (a *Agent) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		a.ips.release(key)
		a.deletions.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	i, ours := a.index[pod.Spec.NodeName]
	if !ours || a.isStopped(pod.Spec.NodeName) {
		return nil
	}
	if pod.DeletionTimestamp != nil {
		return a.terminate(ctx, key, pod)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || runningAndReady(pod) {
		return nil
	}
	hostIP := a.cfg.nodeIP(i).String()
	podIP := hostIP
	if !pod.Spec.HostNetwork {
		node, err := a.nodes.Get(pod.Spec.NodeName)
		if err != nil {
			return nil // not seen yet: the node's add event queues its pods
		}
		cidr := node.Spec.PodCIDR
		if cidr == "" {
			return nil // waiting for node IPAM: the podCIDR update queues its pods
		}
		addr, err := a.ips.assign(node.Name, cidr, key)
		if err != nil {
			return err
		}
		podIP = addr.String()
	}
	p := pod.DeepCopy()
	p.Status = runningStatus(pod, hostIP, podIP, metav1.Now())
	if _, err := a.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("set pod %s running: %w", key, err)
	}
	return nil
}

// terminate finishes a deleted pod as a kubelet does: after min(grace period,
// DeletionDelay) its containers are marked terminated, then the pod is deleted for good.
func (a *Agent) terminate(ctx context.Context, key string, pod *corev1.Pod) error {
	grace := time.Duration(0)
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	// Containers take min(grace, DeletionDelay) to stop from when the deletion is seen,
	// as a kubelet counts; deletionTimestamp (whole seconds) only caps it.
	done := a.deletions.first(key, pod.UID, time.Now()).Add(min(grace, a.cfg.DeletionDelay))
	if deadline := pod.DeletionTimestamp.Add(time.Second); deadline.Before(done) {
		done = deadline
	}
	if wait := time.Until(done); wait > 0 {
		a.podQueue.AddAfter(key, wait)
		return nil
	}
	pods := a.client.CoreV1().Pods(pod.Namespace)
	if !allTerminated(pod) {
		p := pod.DeepCopy()
		p.Status = terminatedStatus(pod, metav1.Now())
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				a.ips.release(key)
				a.deletions.forget(key)
				return nil
			}
			return fmt.Errorf("mark pod %s terminated: %w", key, err)
		}
	}
	zero := int64(0)
	err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s: %w", key, err)
	}
	a.ips.release(key)
	a.deletions.forget(key)
	return nil
}

// runningAndReady reports whether the pod already shows what syncPod would write.
func runningAndReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" ||
		len(pod.Status.ContainerStatuses) != len(pod.Spec.Containers) {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue || !gatesMet(pod)
		}
	}
	return false
}

// gatesMet reports whether every readiness gate's condition is True.
func gatesMet(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func allTerminated(pod *corev1.Pod) bool {
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Terminated == nil {
			return false
		}
	}
	return true
}

// runningStatus is the status of a pod whose containers all started and are ready.
func runningStatus(pod *corev1.Pod, hostIP, podIP string, now metav1.Time) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.Reason, st.Message = "", ""
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	st.PodIP, st.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	started := *st.StartTime
	ready := corev1.ConditionTrue
	if !gatesMet(pod) {
		ready = corev1.ConditionFalse
	}
	for _, c := range []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: ready},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	} {
		setPodCondition(&st, c, now)
	}
	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		cs := containerStatus(pod, c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
			cs.Ready, cs.Started = true, ptrTo(true)
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: started, ContainerID: cs.ContainerID}
			cs.Ready, cs.Started = true, ptrTo(false)
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		cs := containerStatus(pod, c)
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
		cs.Ready, cs.Started = true, ptrTo(true)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	return st
}

// terminatedStatus is the status of a pod whose containers stopped on deletion.
func terminatedStatus(pod *corev1.Pod, now metav1.Time) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	// Simulated containers exit 0 on SIGTERM, so a deleted pod ends Succeeded.
	st.Phase = corev1.PodSucceeded
	for _, c := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
		setPodCondition(&st, corev1.PodCondition{Type: c, Status: corev1.ConditionFalse, Reason: "PodCompleted"}, now)
	}
	terminate := func(list []corev1.ContainerStatus) {
		for i := range list {
			cs := &list[i]
			if cs.State.Terminated != nil {
				continue
			}
			startedAt := now
			if cs.State.Running != nil {
				startedAt = cs.State.Running.StartedAt
			}
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: startedAt, FinishedAt: now, ContainerID: cs.ContainerID,
			}}
			cs.Ready, cs.Started = false, ptrTo(false)
		}
	}
	terminate(st.InitContainerStatuses)
	terminate(st.ContainerStatuses)
	return st
}

func containerStatus(pod *corev1.Pod, c corev1.Container) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: "simulated://" + c.Image,
		ContainerID: fmt.Sprintf("simulated://%s-%s", pod.UID, c.Name), RestartCount: 0,
	}
}

// setPodCondition sets a condition, keeping its transition time when the status stays.
func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition, now metav1.Time) {
	c.LastTransitionTime = now
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			c.LastProbeTime = st.Conditions[i].LastProbeTime
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

func ptrTo[T any](v T) *T { return &v }

// deletionClock remembers when each deleted pod (by key, for its uid) was first seen
// deleted.
type deletionClock struct {
	mu   sync.Mutex
	seen map[string]deletionSeen
}

type deletionSeen struct {
	uid types.UID
	at  time.Time
}

// first returns when the pod was first seen deleted, now if this is the first time.
func (d *deletionClock) first(key string, uid types.UID, now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.seen[key]; ok && e.uid == uid {
		return e.at
	}
	d.seen[key] = deletionSeen{uid: uid, at: now}
	return now
}

func (d *deletionClock) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, key)
}
