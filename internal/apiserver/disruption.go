package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/podutil"
	"github.com/berth/berth/internal/registry"
)

// maxDisruptedPods bounds status.disruptedPods: evictions the disruption controller has
// not confirmed yet (Kubernetes' MaxDisruptedPodSize).
const maxDisruptedPods = 2000

var pdbResource = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")

// admitEviction applies the pod's PodDisruptionBudget to an eviction as Kubernetes'
// eviction REST does: a pod that is not running, or already going, is never protected; an
// unready pod may go when the budget allows unhealthy evictions (AlwaysAllow, or
// IfHealthyBudget while the budget is met); otherwise one disruption is taken from
// status.disruptionsAllowed and the pod is recorded in status.disruptedPods (not for a
// dry run), or the eviction is refused with 429 — kubectl drain retries then.
func (s *Server) admitEviction(ctx context.Context, pod *corev1.Pod, dry bool) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed ||
		pod.Status.Phase == corev1.PodPending || pod.DeletionTimestamp != nil {
		return nil
	}
	st := s.stores[pdbResource]
	if st == nil {
		return nil
	}
	obj, err := st.List(ctx, pod.Namespace, registry.ListOptions{})
	if err != nil {
		return err
	}
	list := obj.(*policyv1.PodDisruptionBudgetList)
	var budgets []*policyv1.PodDisruptionBudget
	for i := range list.Items {
		pdb := &list.Items[i]
		// A nil selector matches nothing, an empty one every pod of the namespace.
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && sel.Matches(labels.Set(pod.Labels)) {
			budgets = append(budgets, pdb)
		}
	}
	switch len(budgets) {
	case 0:
		return nil
	case 1:
	default:
		// Kubernetes answers 500 here; it is the budgets that are wrong, not the server.
		return apierrors.NewConflict(pdbResource.GroupResource(), budgets[0].Name,
			fmt.Errorf("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := budgets[0]
	if !podutil.IsReady(pod) {
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
			return nil
		}
		if pdb.Status.ObservedGeneration >= pdb.Generation && pdb.Status.DesiredHealthy > 0 &&
			pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy {
			return nil // unready pods do not count towards healthy: nothing to take
		}
	}
	_, err = st.Update(ctx, pod.Namespace, pdb.Name, func(current runtime.Object) (runtime.Object, error) {
		pdb := current.(*policyv1.PodDisruptionBudget)
		if err := takeDisruption(pdb, pod.Name, time.Now()); err != nil {
			return nil, err
		}
		return pdb, nil
	}, registry.UpdateOptions{Subresource: "status", DryRun: dry})
	return err
}

// takeDisruption is Kubernetes' checkAndDecrement on the budget as stored now.
func takeDisruption(pdb *policyv1.PodDisruptionBudget, podName string, now time.Time) error {
	gr := pdbResource.GroupResource()
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return tooManyRequests(10, fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	}
	if pdb.Status.DisruptionsAllowed < 0 {
		return apierrors.NewForbidden(gr, pdb.Name, fmt.Errorf("pdb disruptions allowed is negative"))
	}
	if len(pdb.Status.DisruptedPods) > maxDisruptedPods {
		return apierrors.NewForbidden(gr, pdb.Name, fmt.Errorf("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	}
	if pdb.Status.DisruptionsAllowed == 0 {
		return tooManyRequests(0, fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently",
			pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy))
	}
	pdb.Status.DisruptionsAllowed--
	if pdb.Status.DisruptionsAllowed == 0 {
		setDisruptionAllowed(pdb, now)
	}
	if pdb.Status.DisruptedPods == nil {
		pdb.Status.DisruptedPods = map[string]metav1.Time{}
	}
	pdb.Status.DisruptedPods[podName] = metav1.NewTime(now)
	return nil
}

// setDisruptionAllowed marks the budget exhausted (condition DisruptionAllowed=False,
// InsufficientPods) until the disruption controller looks again; the transition time
// moves only if the status changes.
func setDisruptionAllowed(pdb *policyv1.PodDisruptionBudget, now time.Time) {
	meta.SetStatusCondition(&pdb.Status.Conditions, metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.InsufficientPodsReason, ObservedGeneration: pdb.Status.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now),
	})
}

func tooManyRequests(retryAfter int, cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", retryAfter)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	return err
}
