package disruption

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// sync brings one budget's status up to date with the pods it selects. It writes only
// when the status changed, and queues the budget again for when its earliest
// disruptedPods entry expires.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller queued
	}
	pdb, err := c.budgets.PodDisruptionBudgets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	now := c.now()
	var res statusResult
	pods, err := c.selectedPods(pdb)
	if err != nil {
		// Validation rejects bad selectors; should one get through, the budget allows nothing.
		res = failedStatus(pdb, fmt.Errorf("selector: %w", err), now)
	} else {
		res = computeStatus(pdb, pods, c.scaleOf, now)
	}
	if res.Err != nil {
		c.log.Info("budget allows no disruption: status cannot be computed", "budget", key, "err", res.Err)
	}

	if !apiequality.Semantic.DeepEqual(res.Status, pdb.Status) {
		c.report(pdb, pods, res)
		updated := pdb.DeepCopy()
		updated.Status = res.Status
		// The resourceVersion of the cached budget guards the eviction API's writes: a
		// disruptedPods entry added since makes this a conflict, and the retry sees it.
		if _, err := c.client.PodDisruptionBudgets(namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("update status: %w", err)
		}
	}
	if !res.Recheck.IsZero() {
		c.queue.AddAfter(key, res.Recheck.Sub(now))
	}
	return nil
}

// report records the events kube-controller-manager gives for what a sync found.
func (c *Controller) report(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, res statusResult) {
	if res.Err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed",
			"Failed to calculate the number of expected pods: %v", res.Err)
	}
	if res.Err == nil && len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	if len(res.Unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods",
			"Pods selected by this PodDisruptionBudget (selector: %v) were found to be unmanaged. "+
				"As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
				"To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
			metav1.FormatLabelSelector(pdb.Spec.Selector))
	}
	for _, pod := range res.NotDeleted {
		c.recorder.Eventf(pod, corev1.EventTypeWarning, "NotDeleted",
			"Pod was expected by PDB %s/%s to be deleted but it wasn't", pdb.Namespace, pdb.Name)
	}
}

// selectedPods lists the pods of the budget's namespace its selector matches: in
// policy/v1 an empty selector matches them all, a missing one none.
func (c *Controller) selectedPods(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, err
	}
	return c.pods.Pods(pdb.Namespace).List(sel)
}

// The workload kinds whose scale a budget counts.
var (
	replicaSetKind            = appsv1.SchemeGroupVersion.WithKind("ReplicaSet").GroupKind()
	deploymentKind            = appsv1.SchemeGroupVersion.WithKind("Deployment").GroupKind()
	replicationControllerKind = corev1.SchemeGroupVersion.WithKind("ReplicationController").GroupKind()
)

// scaleOf is the controller's scaleLookup over its caches: a pod's ReplicaSet counts
// its Deployment's replicas when a Deployment controls it, else its own; a
// ReplicationController counts its own. References must match the cached object's UID.
func (c *Controller) scaleOf(namespace string, ref *metav1.OwnerReference) (workloadScale, bool) {
	switch groupKindOf(ref) {
	case replicationControllerKind:
		rc, err := c.rcs.ReplicationControllers(namespace).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return workloadScale{}, false
		}
		return workloadScale{UID: rc.UID, Replicas: ptr.Deref(rc.Spec.Replicas, 1)}, true
	case replicaSetKind:
		rs, err := c.replicaSets.ReplicaSets(namespace).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return workloadScale{}, false
		}
		if owner := metav1.GetControllerOfNoCopy(rs); owner != nil && groupKindOf(owner) == deploymentKind {
			d, err := c.deployments.Deployments(namespace).Get(owner.Name)
			if err == nil && d.UID == owner.UID {
				return workloadScale{UID: d.UID, Replicas: ptr.Deref(d.Spec.Replicas, 1)}, true
			}
			// Its Deployment is gone (the garbage collector will follow): Kubernetes then
			// reads the ReplicaSet's own scale, through its scale subresource.
		}
		return workloadScale{UID: rs.UID, Replicas: ptr.Deref(rs.Spec.Replicas, 1)}, true
	}
	return workloadScale{}, false
}

// groupKindOf reads a reference's kind; the old extensions group names the same
// ReplicaSets and Deployments as apps.
func groupKindOf(ref *metav1.OwnerReference) schema.GroupKind {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return schema.GroupKind{}
	}
	if gv.Group == "extensions" {
		gv.Group = appsv1.GroupName
	}
	return schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
}
