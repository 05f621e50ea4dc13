package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/berth/berth/internal/podutil"
)

// syncNode judges one node's health, writes Unknown conditions when it went silent,
// reconciles the controller-owned taints, and schedules the next look at the moment the
// node would go stale.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.health.forget(name)
		return nil
	}
	if err != nil {
		return err
	}
	now := c.cfg.Clock.Now()
	var renewed time.Time
	if lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(name); err == nil && lease.Spec.RenewTime != nil {
		renewed = lease.Spec.RenewTime.Time
	}
	heard := c.health.observe(name, renewed, readyHeartbeat(node), now)
	if conds, changed := staleConditions(node, heard, now, c.cfg.Grace); changed {
		n := node.DeepCopy()
		n.Status.Conditions = conds
		if node, err = c.api.UpdateNodeStatus(ctx, n); err != nil {
			return fmt.Errorf("mark node %s unknown: %w", name, err)
		}
		c.cfg.Log.Info("node stopped posting status", "node", name, "lastHeard", heard)
	}
	if taints, changed := desiredTaints(node, now); changed {
		n := node.DeepCopy()
		n.Spec.Taints = taints
		if _, err := c.api.UpdateNode(ctx, n); err != nil {
			return fmt.Errorf("update taints of node %s: %w", name, err)
		}
	}
	if stale := heard.Add(c.cfg.Grace).Sub(now); stale > 0 {
		c.nodeQueue.AddAfter(name, stale)
	}
	return nil
}

func readyHeartbeat(node *corev1.Node) time.Time {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

// syncPod acts on one pod because of its node: evicts it from a NoExecute-tainted node
// when its tolerations run out, marks it not ready on an unreachable node, and deletes
// it when its node is gone.
func (c *Controller) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return c.collectOrphan(ctx, key, pod)
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil {
		return nil
	}
	now := c.cfg.Clock.Now()
	if taints := noExecuteTaints(node); len(taints) > 0 {
		v := evictionFor(pod.Spec.Tolerations, taints, now)
		if v.Evict && !v.At.After(now) {
			return c.evict(ctx, pod, v.Taint)
		}
		if v.Evict {
			c.podQueue.AddAfter(key, v.At.Sub(now))
		}
	}
	if readyStatus(node) == corev1.ConditionUnknown && podutil.IsReady(pod) {
		return c.markNotReady(ctx, pod, now)
	}
	return nil
}

// evict deletes a pod from a NoExecute-tainted node, recording why on the pod first.
// The TaintManagerEviction event is recorded once per pod, as Kubernetes' taint eviction
// controller does: not again when a retry (after a conflicting status write or a failed
// delete) or a stale cache brings the same pod back, which the DisruptionTarget condition
// this controller wrote tells.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod, taint corev1.Taint) error {
	first := !markedForTaintEviction(pod)
	if first && !podutil.IsTerminal(pod) {
		p := pod.DeepCopy()
		setPodCondition(p, corev1.PodCondition{
			Type: conditionDisruptionTaget, Status: corev1.ConditionTrue, Reason: reasonTaintEviction,
			Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.NewTime(c.cfg.Clock.Now()),
		})
		if _, err := c.api.UpdatePodStatus(ctx, p); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark pod %s/%s for eviction: %w", pod.Namespace, pod.Name, err)
		}
	}
	if first {
		c.cfg.EvictionRecorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	}
	err := c.api.DeletePod(ctx, pod.Namespace, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.cfg.Log.Info("evicted pod from tainted node", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName, "taint", taint.ToString())
	return nil
}

// markNotReady sets Ready=False on a pod whose node stopped reporting, as Kubernetes'
// MarkPodsNotReady does, so Services stop sending it traffic.
func (c *Controller) markNotReady(ctx context.Context, pod *corev1.Pod, now time.Time) error {
	p := pod.DeepCopy()
	setPodCondition(p, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now)})
	if _, err := c.api.UpdatePodStatus(ctx, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err)
	}
	c.cfg.Recorder.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	return nil
}

// collectOrphan force-deletes a pod whose node does not exist: at once when the node was
// seen deleted, after the quarantine when it was never seen (it may be registering).
func (c *Controller) collectOrphan(ctx context.Context, key string, pod *corev1.Pod) error {
	now := c.cfg.Clock.Now()
	c.missingMu.Lock()
	m, ok := c.missing[pod.Spec.NodeName]
	if !ok {
		m = missingNode{since: now}
		c.missing[pod.Spec.NodeName] = m
	}
	c.missingMu.Unlock()
	if wait := m.since.Add(c.cfg.OrphanQuarantine).Sub(now); !m.deleted && wait > 0 {
		c.podQueue.AddAfter(key, wait)
		return nil
	}
	exists, err := c.api.NodeExists(ctx, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	if exists {
		return nil // the cache lags; the node's add event queues the pod again
	}
	if !podutil.IsTerminal(pod) {
		p := pod.DeepCopy()
		p.Status.Phase = corev1.PodFailed
		setPodCondition(p, corev1.PodCondition{
			Type: conditionDisruptionTaget, Status: corev1.ConditionTrue, Reason: reasonPodGC,
			Message: "PodGC: node no longer exists", LastTransitionTime: metav1.NewTime(now),
		})
		if _, err := c.api.UpdatePodStatus(ctx, p); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("mark orphaned pod %s: %w", key, err)
		}
	}
	zero := int64(0)
	err = c.api.DeletePod(ctx, pod.Namespace, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete orphaned pod %s: %w", key, err)
	}
	c.cfg.Log.Info("deleted pod of a missing node", "pod", key, "node", pod.Spec.NodeName)
	return nil
}

// markedForTaintEviction reports whether this controller already marked the pod for a
// NoExecute eviction.
func markedForTaintEviction(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == conditionDisruptionTaget && c.Status == corev1.ConditionTrue && c.Reason == reasonTaintEviction {
			return true
		}
	}
	return false
}

func setPodCondition(pod *corev1.Pod, cond corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == cond.Type {
			if pod.Status.Conditions[i].Status == cond.Status {
				cond.LastTransitionTime = pod.Status.Conditions[i].LastTransitionTime
			}
			pod.Status.Conditions[i] = cond
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}
