package deployment

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The rollout arithmetic below is pure: it reads Deployments and ReplicaSets and returns
// numbers or picks, so it is table-tested without an API.

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// resolveFenceposts turns maxSurge/maxUnavailable (ints or percents of desired) into counts:
// surge rounds up, unavailable rounds down. Both zero would deadlock a rollout, so
// unavailable becomes 1 then (validation forbids both zero; rounding can still produce it).
func resolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (int32, int32, error) {
	surge, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxSurge, intstr.FromInt32(0)), int(desired), true)
	if err != nil {
		return 0, 0, err
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxUnavailable, intstr.FromInt32(0)), int(desired), false)
	if err != nil {
		return 0, 0, err
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable), nil
}

func rollingParams(d *appsv1.Deployment) (surge, unavailable *intstr.IntOrString) {
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		return ru.MaxSurge, ru.MaxUnavailable
	}
	return nil, nil
}

// maxSurge is how many pods a rolling update may run above the desired count.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, u := rollingParams(d)
	surge, _, _ := resolveFenceposts(s, u, replicasOf(d))
	return surge
}

// maxUnavailable is how many of the desired pods may be unavailable during a rolling update.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || replicasOf(d) == 0 {
		return 0
	}
	s, u := rollingParams(d)
	_, unavailable, _ := resolveFenceposts(s, u, replicasOf(d))
	return min(unavailable, replicasOf(d))
}

// newRSNewReplicas is the size the new ReplicaSet may grow to now: for a rolling update,
// up to the total limit replicas+maxSurge but never past the desired count; for Recreate,
// the desired count.
func newRSNewReplicas(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return replicasOf(d)
	}
	maxTotal := replicasOf(d) + maxSurge(d)
	current := podCeiling(allRSs)
	if current >= maxTotal {
		return rsReplicas(newRS)
	}
	up := min(maxTotal-current, replicasOf(d)-rsReplicas(newRS))
	return rsReplicas(newRS) + up
}

// replicaProportion is how many replicas rs gets (or gives up) of toAdd when a Deployment
// is resized in the middle of a rollout, given added already handed out: its share of the
// new total in proportion to its share of the old one (from the max-replicas annotation).
func replicaProportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := replicaSetFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// replicaSetFraction is the change in rs's size that keeps its share of the Deployment when
// the Deployment's ceiling moves from the annotated max-replicas to replicas+maxSurge.
func replicaSetFraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if replicasOf(d) == 0 {
		return -rsReplicas(rs)
	}
	newMax := replicasOf(d) + maxSurge(d)
	oldMax, ok := intAnnotation(rs, maxReplicasAnnotation)
	if !ok || oldMax == 0 {
		// No annotation: the current size of the Deployment is the best guess.
		oldMax = d.Status.Replicas
		if oldMax == 0 {
			return 0
		}
	}
	size := float64(rsReplicas(rs)*newMax) / float64(oldMax)
	return roundToInt32(size) - rsReplicas(rs)
}

func roundToInt32(f float64) int32 {
	if f < 0 {
		return int32(f - 0.5)
	}
	return int32(f + 0.5)
}

// proportionalSizes computes the sizes of the active ReplicaSets when a Deployment in a
// rollout is resized: the change (up to replicas+maxSurge) is spread in proportion to the
// sizes they have; what rounding leaves over goes to the largest (newest on scale-up, oldest
// on scale-down). It returns the new sizes by ReplicaSet name.
func proportionalSizes(d *appsv1.Deployment, active []*appsv1.ReplicaSet) map[string]int32 {
	var allowed int32
	if replicasOf(d) > 0 {
		allowed = replicasOf(d) + maxSurge(d)
	}
	toAdd := allowed - replicaCount(active)
	ordered := append([]*appsv1.ReplicaSet(nil), active...)
	switch {
	case toAdd > 0:
		sort.Sort(bySizeNewer(ordered))
	case toAdd < 0:
		sort.Sort(bySizeOlder(ordered))
	}
	sizes := make(map[string]int32, len(ordered))
	var added int32
	for _, rs := range ordered {
		if toAdd == 0 {
			sizes[rs.Name] = rsReplicas(rs)
			continue
		}
		p := replicaProportion(rs, d, toAdd, added)
		sizes[rs.Name] = rsReplicas(rs) + p
		added += p
	}
	if toAdd != 0 && len(ordered) > 0 {
		first := ordered[0].Name
		sizes[first] = max(sizes[first]+toAdd-added, 0)
	}
	return sizes
}

// podCeiling bounds the pods the ReplicaSets may be running: a ReplicaSet just scaled down
// still runs its extra pods until its controller reports them gone (status.replicas), so
// growing the new one against spec sizes alone could briefly exceed replicas+maxSurge.
// Kubernetes sums spec sizes here; the bound is the same once the ReplicaSets caught up.
func podCeiling(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += max(rsReplicas(rs), rs.Status.Replicas)
		}
	}
	return n
}

// settledAvailable is how many of rs's available pods surely remain once its controller
// caught up with a scale-down: until then its status still counts pods it is about to
// delete. Using status alone (as Kubernetes does) can let a fast rollout dip below
// replicas−maxUnavailable for a moment.
func settledAvailable(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	extra := max(rs.Status.Replicas-rsReplicas(rs), 0)
	return max(rs.Status.AvailableReplicas-extra, 0)
}

func settledAvailableCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += settledAvailable(rs)
	}
	return n
}

func replicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += rsReplicas(rs)
	}
	return n
}

func actualReplicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.Replicas
		}
	}
	return n
}

func readyReplicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.ReadyReplicas
		}
	}
	return n
}

func availableReplicaCount(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.AvailableReplicas
		}
	}
	return n
}

// terminatingReplicaCount is nil when any ReplicaSet does not report the figure yet.
func terminatingReplicaCount(rss []*appsv1.ReplicaSet) *int32 {
	var n int32
	for _, rs := range rss {
		switch {
		case rs == nil:
		case rs.Status.TerminatingReplicas == nil:
			return nil
		default:
			n += *rs.Status.TerminatingReplicas
		}
	}
	return &n
}

// activeReplicaSets are those with a non-zero size.
func activeReplicaSets(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// equalIgnoreHash compares templates ignoring the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return apiequality.Semantic.DeepEqual(a, b)
}

// findNewReplicaSet is the ReplicaSet whose template is the Deployment's (the oldest one,
// should several match).
func findNewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	sort.Sort(byCreation(sorted))
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// findOldReplicaSets is every ReplicaSet but the new one.
func findOldReplicaSets(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	newRS := findNewReplicaSet(d, rss)
	var old []*appsv1.ReplicaSet
	for _, rs := range rss {
		if newRS == nil || rs.UID != newRS.UID {
			old = append(old, rs)
		}
	}
	return old
}

// findActiveOrLatest returns the only active ReplicaSet, or the newest when none is
// active; nil when several are active (a rollout is in progress).
func findActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	old := append([]*appsv1.ReplicaSet(nil), oldRSs...)
	sort.Sort(sort.Reverse(byCreation(old)))
	active := activeReplicaSets(append(old, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return old[0]
	case 1:
		return active[0]
	}
	return nil
}

// isSaturated says the new ReplicaSet has all desired replicas, all available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, desiredReplicasAnnotation)
	return ok && rsReplicas(rs) == replicasOf(d) && desired == replicasOf(d) && rs.Status.AvailableReplicas == replicasOf(d)
}

// byCreation orders ReplicaSets oldest first, by name on equal timestamps.
type byCreation []*appsv1.ReplicaSet

func (o byCreation) Len() int      { return len(o) }
func (o byCreation) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o byCreation) Less(i, j int) bool {
	if o[i].CreationTimestamp.Equal(&o[j].CreationTimestamp) {
		return o[i].Name < o[j].Name
	}
	return o[i].CreationTimestamp.Before(&o[j].CreationTimestamp)
}

// bySizeOlder orders larger first, older first on equal sizes (scale-down order).
type bySizeOlder []*appsv1.ReplicaSet

func (o bySizeOlder) Len() int      { return len(o) }
func (o bySizeOlder) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o bySizeOlder) Less(i, j int) bool {
	if rsReplicas(o[i]) == rsReplicas(o[j]) {
		return byCreation(o).Less(i, j)
	}
	return rsReplicas(o[i]) > rsReplicas(o[j])
}

// bySizeNewer orders larger first, newer first on equal sizes (scale-up order).
type bySizeNewer []*appsv1.ReplicaSet

func (o bySizeNewer) Len() int      { return len(o) }
func (o bySizeNewer) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o bySizeNewer) Less(i, j int) bool {
	if rsReplicas(o[i]) == rsReplicas(o[j]) {
		return byCreation(o).Less(j, i)
	}
	return rsReplicas(o[i]) > rsReplicas(o[j])
}

// byRevision orders by revision number, by creation when equal or unparsable.
type byRevision []*appsv1.ReplicaSet

func (o byRevision) Len() int      { return len(o) }
func (o byRevision) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o byRevision) Less(i, j int) bool {
	ri, erri := revision(o[i])
	rj, errj := revision(o[j])
	if erri != nil || errj != nil || ri == rj {
		return byCreation(o).Less(i, j)
	}
	return ri < rj
}
