package disruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// StaleDisruptionTimeout is how long a pod may carry a True DisruptionTarget condition
// (set by the eviction API or the scheduler's preemption just before they delete it)
// without being deleted. Past it the deletion is assumed to have failed and the
// condition is set False, so the pod's owner does not take it for a pod on its way out;
// kube-controller-manager's disruption controller does the same after 2 minutes.
const StaleDisruptionTimeout = 2 * time.Minute

// staleDisruption reports whether the pod carries a DisruptionTarget condition that
// will be stale if it is still there after wait (0: stale now). Conditions the kubelet
// set are never stale (it may take any time to act on them), nor are those of pods that
// are terminating or finished.
func staleDisruption(pod *corev1.Pod, now time.Time) (stale bool, wait time.Duration) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, 0
	}
	cond := podCondition(pod, corev1.DisruptionTarget)
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason == corev1.PodReasonTerminationByKubelet {
		return false, 0
	}
	return true, max(0, StaleDisruptionTimeout-now.Sub(cond.LastTransitionTime.Time))
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// watchStaleDisruption queues a pod whose DisruptionTarget condition may go stale, for
// when it does.
func (c *Controller) watchStaleDisruption(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if stale, wait := staleDisruption(pod, c.now()); stale {
		if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
			c.staleQueue.AddAfter(key, wait)
		}
	}
}

// syncStaleDisruption sets a pod's stale DisruptionTarget condition False.
func (c *Controller) syncStaleDisruption(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	now := c.now()
	stale, wait := staleDisruption(pod, now)
	if !stale {
		return nil
	}
	if wait > 0 {
		c.staleQueue.AddAfter(key, wait)
		return nil
	}
	updated := pod.DeepCopy()
	*podCondition(updated, corev1.DisruptionTarget) = corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now),
	}
	// The cached resourceVersion: a pod deleted meanwhile makes this a conflict, and the
	// retry finds its condition no longer stale.
	if _, err := c.podClient.Pods(namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("reset stale DisruptionTarget condition: %w", err)
	}
	c.log.Info("reset stale DisruptionTarget condition", "pod", key)
	return nil
}
