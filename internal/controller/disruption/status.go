package disruption

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/berth/berth/internal/podutil"
)

// DeletionTimeout is how long an entry of status.disruptedPods (written by the eviction
// API just before it deletes the pod) keeps its pod out of the healthy count while the
// pod shows no deletionTimestamp. Past it the deletion is assumed never to come and the
// entry is dropped, as kube-controller-manager's DeletionTimeout.
const DeletionTimeout = 2 * time.Minute

// workloadScale is the workload whose spec.replicas a pod counts towards.
type workloadScale struct {
	UID      types.UID
	Replicas int32
}

// scaleLookup resolves a pod's controller reference to the workload whose scale counts:
// the ReplicaSet's Deployment if it has one, else the ReplicaSet; or the
// ReplicationController. found is false when no such workload exists.
type scaleLookup func(namespace string, ref *metav1.OwnerReference) (scale workloadScale, found bool)

// statusResult is what one sync of a budget decided.
type statusResult struct {
	// Status is the budget's status to hold; equal to the old one when nothing changed.
	Status policyv1.PodDisruptionBudgetStatus
	// Err is why the expected pod count could not be computed; Status then allows no
	// disruption and says SyncFailed, the rest of it as it was.
	Err error
	// Recheck, when not zero, is when the earliest kept disruptedPods entry expires.
	Recheck time.Time
	// Unmanaged names the selected pods without a controller (only looked for when the
	// budget needs the workloads' scale); they do not count towards expectedPods.
	Unmanaged []string
	// NotDeleted are the pods whose disruptedPods entry expired without their deletion.
	NotDeleted []*corev1.Pod
}

// computeStatus derives a budget's status from the pods its selector matches, as
// kube-controller-manager's disruption controller does:
//
//   - minAvailable as an integer: expectedPods is the number of pods, desiredHealthy
//     the integer;
//   - maxUnavailable, or minAvailable as a percentage: expectedPods is the sum of
//     spec.replicas of the pods' workloads (each counted once), desiredHealthy
//     expectedPods − maxUnavailable or minAvailable% of it, percentages rounded up;
//   - currentHealthy counts the Ready pods neither terminating nor listed in
//     disruptedPods; disruptionsAllowed is currentHealthy − desiredHealthy, at least 0,
//     and 0 while expectedPods is 0.
//
// disruptedPods keeps only entries whose pod is still selected, not yet terminating and
// younger than DeletionTimeout. The DisruptionAllowed condition follows
// disruptionsAllowed; its lastTransitionTime moves only when its status does.
func computeStatus(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, lookup scaleLookup, now time.Time) statusResult {
	expected, desired, unmanaged, err := expectedAndDesired(pdb, pods, lookup)
	if err != nil {
		res := failedStatus(pdb, err, now)
		res.Unmanaged = unmanaged
		return res
	}

	res := statusResult{Unmanaged: unmanaged}
	disrupted, recheck, notDeleted := keptDisruptions(pdb.Status.DisruptedPods, pods, now)
	res.Recheck, res.NotDeleted = recheck, notDeleted
	var healthy int32
	for _, pod := range pods {
		if _, pending := disrupted[pod.Name]; pending || pod.DeletionTimestamp != nil {
			continue
		}
		if podutil.IsReady(pod) {
			healthy++
		}
	}
	allowed := max(0, healthy-desired)
	if expected <= 0 {
		// A budget that selects nothing yet must not allow disruptions of the first pods
		// it sees before it has synced again.
		allowed = 0
	}

	status := policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		Conditions:         cloneConditions(pdb.Status.Conditions),
	}
	if allowed > 0 {
		setCondition(&status, metav1.ConditionTrue, policyv1.SufficientPodsReason, "", now)
	} else {
		setCondition(&status, metav1.ConditionFalse, policyv1.InsufficientPodsReason, "", now)
	}
	res.Status = status
	return res
}

// failedStatus is the status of a budget whose sync failed with err: as it was, but
// allowing no disruption, its condition saying why (kube-controller-manager's fail-safe).
func failedStatus(pdb *policyv1.PodDisruptionBudget, err error, now time.Time) statusResult {
	status := *pdb.Status.DeepCopy()
	status.DisruptionsAllowed = 0
	setCondition(&status, metav1.ConditionFalse, policyv1.SyncFailedReason, err.Error(), now)
	return statusResult{Status: status, Err: err}
}

// expectedAndDesired returns expectedPods and desiredHealthy for the budget's pods.
func expectedAndDesired(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, lookup scaleLookup) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = expectedScale(pods, lookup)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, unmanaged, fmt.Errorf("maxUnavailable: %w", err)
		}
		return expected, max(0, expected-int32(maxUnavailable)), unmanaged, nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), pdb.Spec.MinAvailable.IntVal, nil, nil
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = expectedScale(pods, lookup)
		if err != nil {
			return 0, 0, unmanaged, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, unmanaged, fmt.Errorf("minAvailable: %w", err)
		}
		return expected, int32(minAvailable), unmanaged, nil
	}
	// Validation requires one of the two; a budget with neither protects nothing.
	return 0, 0, nil, nil
}

// expectedScale sums the scale of the workloads controlling the pods, each workload
// once (the pods of a Deployment's old and new ReplicaSets count its replicas once). A
// pod without a controller is returned as unmanaged and adds nothing; a pod whose
// controller is not a known workload, or is gone, fails the sum: its budget cannot say
// how many pods there should be.
func expectedScale(pods []*corev1.Pod, lookup scaleLookup) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		scale, found := lookup(pod.Namespace, ref)
		if !found {
			return 0, unmanaged, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		scales[scale.UID] = scale.Replicas
	}
	var sum int32
	for _, n := range scales {
		sum += n
	}
	return sum, unmanaged, nil
}

// keptDisruptions filters the eviction API's disruptedPods: an entry stays while its pod
// is still selected, shows no deletionTimestamp and is younger than DeletionTimeout.
// recheck is when the earliest kept entry expires; notDeleted are the pods whose entry
// expired.
func keptDisruptions(old map[string]metav1.Time, pods []*corev1.Pod, now time.Time) (kept map[string]metav1.Time, recheck time.Time, notDeleted []*corev1.Pod) {
	if len(old) == 0 {
		return nil, time.Time{}, nil
	}
	for _, pod := range pods {
		evicted, listed := old[pod.Name]
		if !listed || pod.DeletionTimestamp != nil {
			continue
		}
		expiry := evicted.Add(DeletionTimeout)
		if !expiry.After(now) {
			notDeleted = append(notDeleted, pod)
			continue
		}
		if kept == nil {
			kept = map[string]metav1.Time{}
		}
		kept[pod.Name] = evicted
		if recheck.IsZero() || expiry.Before(recheck) {
			recheck = expiry
		}
	}
	return kept, recheck, notDeleted
}

// setCondition sets the DisruptionAllowed condition; its lastTransitionTime becomes now
// only when its status changes.
func setCondition(status *policyv1.PodDisruptionBudgetStatus, s metav1.ConditionStatus, reason, message string, now time.Time) {
	apimeta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             s,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: status.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now).Rfc3339Copy(), // as stored
	})
}

func cloneConditions(in []metav1.Condition) []metav1.Condition {
	if in == nil {
		return nil
	}
	return append([]metav1.Condition(nil), in...)
}
