package deployment

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling moves a Deployment one step toward its template: grow the new ReplicaSet
// within maxSurge, else shrink old ones within maxUnavailable; clean up history once done.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	allRSs := append(oldRSs, newRS)

	scaledUp, err := c.reconcileNewReplicaSet(ctx, allRSs, newRS, d)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, allRSs, newRS, d)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, allRSs, activeReplicaSets(oldRSs), newRS, d)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, allRSs, newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupDeployment(ctx, oldRSs, d); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, allRSs, newRS, d)
}

func (c *Controller) reconcileNewReplicaSet(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	switch {
	case rsReplicas(newRS) == replicasOf(d):
		return false, nil
	case rsReplicas(newRS) > replicasOf(d):
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, replicasOf(d), d)
		return scaled, err
	}
	scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, newRS, newRSNewReplicas(d, allRSs, newRS), d)
	return scaled, err
}

// reconcileOldReplicaSets shrinks old ReplicaSets as far as availability allows: first
// their unhealthy replicas (removing those never costs availability), then healthy ones
// down to replicas−maxUnavailable available in total. Unavailable new pods are kept out of
// the budget, so a broken new template does not eat the old healthy pods.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, allRSs, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if replicaCount(oldRSs) == 0 {
		return false, nil
	}
	minAvailable := replicasOf(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - settledAvailable(newRS)
	maxScaledDown := replicaCount(allRSs) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	oldRSs, cleaned, err := c.cleanupUnhealthyReplicas(ctx, oldRSs, d, maxScaledDown)
	if err != nil {
		return false, nil
	}
	scaledDown, err := c.scaleDownOldReplicaSetsForRollingUpdate(ctx, append(oldRSs, newRS), oldRSs, d)
	if err != nil {
		return false, nil
	}
	return cleaned+scaledDown > 0, nil
}

func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	sort.Sort(byCreation(oldRSs))
	var total int32
	for i, rs := range oldRSs {
		if total >= maxCleanup {
			break
		}
		if rsReplicas(rs) == 0 || rsReplicas(rs) <= settledAvailable(rs) {
			continue
		}
		n := min(maxCleanup-total, rsReplicas(rs)-settledAvailable(rs))
		size := rsReplicas(rs) - n
		if size > rsReplicas(rs) {
			return nil, 0, fmt.Errorf("invalid scale-down of %s/%s: %d -> %d", rs.Namespace, rs.Name, rsReplicas(rs), size)
		}
		_, updated, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, size, d)
		if err != nil {
			return nil, total, err
		}
		total += n
		oldRSs[i] = updated
	}
	return oldRSs, total, nil
}

func (c *Controller) scaleDownOldReplicaSetsForRollingUpdate(ctx context.Context, allRSs, oldRSs []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	minAvailable := replicasOf(d) - maxUnavailable(d)
	available := settledAvailableCount(allRSs)
	if available <= minAvailable {
		return 0, nil
	}
	sort.Sort(byCreation(oldRSs))
	var total int32
	budget := available - minAvailable
	for _, rs := range oldRSs {
		if total >= budget {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		n := min(rsReplicas(rs), budget-total)
		if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, rsReplicas(rs)-n, d); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
