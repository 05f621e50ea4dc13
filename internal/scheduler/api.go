package scheduler

import (
	"context"
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// podWriter is the part of the API the scheduler writes through.
type podWriter interface {
	Bind(ctx context.Context, b *corev1.Binding) error
	PatchStatus(ctx context.Context, namespace, name string, patch []byte) error
	// Delete deletes a pod (gracefully) if it still has uid.
	Delete(ctx context.Context, namespace, name string, uid types.UID) error
}

// clientWriter writes with a clientset.
type clientWriter struct{ client kubernetes.Interface }

func (w clientWriter) Bind(ctx context.Context, b *corev1.Binding) error {
	return w.client.CoreV1().Pods(b.Namespace).Bind(ctx, b, metav1.CreateOptions{})
}

func (w clientWriter) PatchStatus(ctx context.Context, namespace, name string, patch []byte) error {
	_, err := w.client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

func (w clientWriter) Delete(ctx context.Context, namespace, name string, uid types.UID) error {
	return w.client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
}

// setUnschedulableCondition sets PodScheduled=False with reason and message, and
// status.nominatedNodeName to nominated when not empty, unless the pod already says
// exactly that.
func (s *Scheduler) setUnschedulableCondition(ctx context.Context, pod *corev1.Pod, reason, msg, nominated string) error {
	transition := metav1.NewTime(s.clock.Now())
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status == corev1.ConditionFalse && c.Reason == reason && c.Message == msg &&
			(nominated == "" || nominated == pod.Status.NominatedNodeName) {
			return nil
		}
		if c.Status == corev1.ConditionFalse {
			transition = c.LastTransitionTime
		}
	}
	cond := corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason, Message: msg,
		LastTransitionTime: transition,
	}
	status := map[string]any{"conditions": []corev1.PodCondition{cond}}
	if nominated != "" {
		status["nominatedNodeName"] = nominated
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   status,
	})
	if err != nil {
		return err
	}
	err = s.api.PatchStatus(ctx, pod.Namespace, pod.Name, patch)
	if isGone(err) {
		return nil
	}
	return err
}

func metaOf(pod *corev1.Pod) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
}

// isGone: the pod was deleted, replaced, or bound by someone else — nothing to retry.
func isGone(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsNotFound(err) {
		return true
	}
	return apierrors.IsConflict(err) && (strings.Contains(err.Error(), "already assigned") ||
		strings.Contains(err.Error(), "being deleted") || strings.Contains(err.Error(), "precondition failed"))
}

func controllerOf(pod *corev1.Pod) *metav1.OwnerReference {
	return metav1.GetControllerOfNoCopy(pod)
}

func labelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
