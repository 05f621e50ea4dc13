package replicaset

import (
	"context"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/podutil"
)

// calculateStatus derives a workload's status from its active pods (claimed ones: they
// match its selector). A ReplicaFailure condition reports the last create/delete error
// and is cleared by the next clean sync.
func calculateStatus(rs *appsv1.ReplicaSet, active, terminating []*corev1.Pod, reportTerminating bool, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	var fullyLabeled, ready, available int32
	template := labels.SelectorFromSet(rs.Spec.Template.Labels)
	// When the selector asks for every template label, each claimed pod has them all:
	// no need to match 30 000 pods again on every sync.
	allLabeled := selectorRequiresAll(rs.Spec.Selector, rs.Spec.Template.Labels)
	for _, pod := range active {
		if allLabeled || template.Matches(labels.Set(pod.Labels)) {
			fullyLabeled++
		}
		if podutil.IsReady(pod) {
			ready++
			if IsPodAvailable(pod, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := replicaFailure(status.Conditions)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(active) - int(replicasOf(rs)); diff < 0 {
			reason = "FailedCreate"
		} else if diff > 0 {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		var kept []appsv1.ReplicaSetCondition
		for _, c := range status.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				kept = append(kept, c)
			}
		}
		status.Conditions = kept
	}
	status.Replicas = int32(len(active))
	status.FullyLabeledReplicas = fullyLabeled
	status.ReadyReplicas = ready
	status.AvailableReplicas = available
	status.TerminatingReplicas = nil
	if reportTerminating {
		n := int32(len(terminating))
		status.TerminatingReplicas = &n
	}
	return status
}

func replicaFailure(conds []appsv1.ReplicaSetCondition) *appsv1.ReplicaSetCondition {
	for i := range conds {
		if conds[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &conds[i]
		}
	}
	return nil
}

// statusUnchanged is the steady state: nothing to write.
func statusUnchanged(rs *appsv1.ReplicaSet, s appsv1.ReplicaSetStatus) bool {
	old := rs.Status
	return old.Replicas == s.Replicas && old.FullyLabeledReplicas == s.FullyLabeledReplicas &&
		old.ReadyReplicas == s.ReadyReplicas && old.AvailableReplicas == s.AvailableReplicas &&
		equalPtr(old.TerminatingReplicas, s.TerminatingReplicas) &&
		rs.Generation == old.ObservedGeneration && reflect.DeepEqual(old.Conditions, s.Conditions)
}

func equalPtr(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// updateStatus writes status (with the generation it acted on) unless nothing changed; a
// conflict is retried once on a fresh read.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, orig runtime.Object, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if statusUnchanged(rs, status) {
		return rs, nil
	}
	status.ObservedGeneration = rs.Generation
	updated, err := c.kind.updateStatus(ctx, orig, status)
	if err == nil {
		return updated, nil
	}
	fresh, getErr := c.kind.reread(ctx, orig)
	if getErr != nil {
		return nil, getErr
	}
	return c.kind.updateStatus(ctx, fresh, status)
}

// selectorRequiresAll reports whether every object sel matches carries each of want's
// labels: sel's matchLabels include them all (its expressions only narrow it further).
func selectorRequiresAll(sel *metav1.LabelSelector, want map[string]string) bool {
	if sel == nil {
		return false
	}
	for k, v := range want {
		if got, ok := sel.MatchLabels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
