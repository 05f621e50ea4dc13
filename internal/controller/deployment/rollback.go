package deployment

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Revisions and rollback.
//
// Every ReplicaSet of a Deployment carries deployment.kubernetes.io/revision. The new
// ReplicaSet's revision is one more than the highest old one. `kubectl rollout undo` is a
// client-side template patch back to an old ReplicaSet's template: the controller then
// finds that old ReplicaSet as the "new" one (templates equal ignoring the hash), gives it
// the next revision and remembers its former numbers in revision-history — so history
// lists it once, at the top, as Kubernetes does.

const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	// Deprecated apps/v1beta1 rollback request; never copied to ReplicaSets.
	rollbackToAnnotation = "deprecated.deployment.rollback.to"
	// maxRevisionHistoryChars bounds revision-history (about 100 entries).
	maxRevisionHistoryChars = 2000
)

// annotationsNotCopied stay on the Deployment (or are the controller's own bookkeeping).
var annotationsNotCopied = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true,
	revisionAnnotation:                 true,
	revisionHistoryAnnotation:          true,
	desiredReplicasAnnotation:          true,
	maxReplicasAnnotation:              true,
	rollbackToAnnotation:               true,
}

// revision parses a ReplicaSet's revision (0 when it has none).
func revision(rs *appsv1.ReplicaSet) (int64, error) {
	v, ok := rs.Annotations[revisionAnnotation]
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// maxRevision is the highest revision among rss (unparsable ones ignored).
func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		if v, err := revision(rs); err == nil {
			m = max(m, v)
		}
	}
	return m
}

func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// setNewReplicaSetAnnotations copies the Deployment's annotations to its new ReplicaSet
// and raises the ReplicaSet's revision to newRevision when lower — recording the old
// number in revision-history when the ReplicaSet had one (a rollback to it). A ReplicaSet
// about to be created also gets the replica annotations. It reports whether anything changed.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string, exists bool) bool {
	changed := copyDeploymentAnnotations(d, rs)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	oldRevision, had := rs.Annotations[revisionAnnotation]
	oldN, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return false
		}
		oldN = 0
	}
	newN, err := strconv.ParseInt(newRevision, 10, 64)
	if err != nil {
		return false
	}
	if oldN < newN {
		rs.Annotations[revisionAnnotation] = newRevision
		changed = true
		if had {
			rs.Annotations[revisionHistoryAnnotation] = appendRevisionHistory(rs.Annotations[revisionHistoryAnnotation], oldRevision)
		}
	}
	if !exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// appendRevisionHistory adds rev to a comma-separated history, dropping the oldest entries
// to stay within maxRevisionHistoryChars.
func appendRevisionHistory(history, rev string) string {
	if history == "" {
		return rev
	}
	entries := strings.Split(history, ",")
	total := len(history) + len(rev) + 1
	start := 0
	for total > maxRevisionHistoryChars && start < len(entries) {
		total -= len(entries[start]) + 1
		start++
	}
	if total > maxRevisionHistoryChars {
		return history
	}
	return strings.Join(append(entries[start:], rev), ",")
}

func copyDeploymentAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if annotationsNotCopied[k] {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setReplicasAnnotations records the Deployment size (desired, and desired+maxSurge) the
// ReplicaSet was last sized for; proportional scaling reads them back.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	if d := fmt.Sprint(desired); rs.Annotations[desiredReplicasAnnotation] != d {
		rs.Annotations[desiredReplicasAnnotation] = d
		changed = true
	}
	if m := fmt.Sprint(maxReplicas); rs.Annotations[maxReplicasAnnotation] != m {
		rs.Annotations[maxReplicasAnnotation] = m
		changed = true
	}
	return changed
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[desiredReplicasAnnotation] != fmt.Sprint(desired) ||
		rs.Annotations[maxReplicasAnnotation] != fmt.Sprint(maxReplicas)
}

// setDeploymentRevision copies the new ReplicaSet's revision onto the Deployment.
func setDeploymentRevision(d *appsv1.Deployment, rev string) bool {
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	if d.Annotations[revisionAnnotation] == rev {
		return false
	}
	d.Annotations[revisionAnnotation] = rev
	return true
}
