package nodelifecycle

import (
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What the controller writes into conditions, as Kubernetes writes it.
const (
	reasonNodeStatusUnknown  = "NodeStatusUnknown"
	messageStoppedPosting    = "Kubelet stopped posting node status."
	reasonNodeNeverUpdated   = "NodeStatusNeverUpdated"
	messageNeverPosted       = "Kubelet never posted node status."
	reasonTaintEviction      = "DeletionByTaintManager"
	reasonPodGC              = "DeletionByPodGC"
	conditionDisruptionTaget = corev1.DisruptionTarget
)

// kubeletConditions are the node conditions the kubelet owns; when it goes silent they
// all become Unknown.
var kubeletConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// staleConditions returns the node's conditions with the kubelet-owned ones set to
// Unknown when the node has not been heard from (lastHeard) within grace; changed is
// false when the node is fresh or already marked.
func staleConditions(node *corev1.Node, lastHeard, now time.Time, grace time.Duration) (conds []corev1.NodeCondition, changed bool) {
	if now.Sub(lastHeard) < grace {
		return node.Status.Conditions, false
	}
	conds = slices.Clone(node.Status.Conditions)
	stamp := metav1.NewTime(now)
	for _, t := range kubeletConditions {
		i := slices.IndexFunc(conds, func(c corev1.NodeCondition) bool { return c.Type == t })
		if i < 0 {
			conds = append(conds, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown, Reason: reasonNodeNeverUpdated, Message: messageNeverPosted,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: stamp,
			})
			changed = true
			continue
		}
		if conds[i].Status == corev1.ConditionUnknown {
			continue
		}
		conds[i].Status, conds[i].Reason, conds[i].Message = corev1.ConditionUnknown, reasonNodeStatusUnknown, messageStoppedPosting
		conds[i].LastTransitionTime = stamp
		changed = true
	}
	return conds, changed
}

// readyStatus returns the status of the node's Ready condition ("" when it has none).
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func conditionStatus(node *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// ownedTaintKeys are the taints this controller alone adds and removes.
var ownedTaintKeys = map[string]bool{
	corev1.TaintNodeNotReady: true, corev1.TaintNodeUnreachable: true, corev1.TaintNodeUnschedulable: true,
	corev1.TaintNodeMemoryPressure: true, corev1.TaintNodeDiskPressure: true, corev1.TaintNodePIDPressure: true,
	corev1.TaintNodeNetworkUnavailable: true,
}

// conditionTaints maps a (condition, status) to the NoSchedule taint it brings.
var conditionTaints = []struct {
	cond   corev1.NodeConditionType
	status corev1.ConditionStatus
	key    string
}{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
}

// desiredTaints returns the node's taints with the controller-owned ones in step with
// its conditions: NoSchedule taints for every bad condition and for cordoned nodes,
// NoExecute not-ready/unreachable for a Ready condition that is False/Unknown. Taints of
// others are kept in order. Every NoExecute taint gets timeAdded (now, when it has none),
// because the eviction deadline of tolerating pods counts from it.
func desiredTaints(node *corev1.Node, now time.Time) (taints []corev1.Taint, changed bool) {
	// timeAdded is stored with second precision: round up, so no toleration is cut short.
	added := now.Truncate(time.Second)
	if added.Before(now) {
		added = added.Add(time.Second)
	}
	stamp := metav1.NewTime(added)
	want := []corev1.Taint{}
	for _, ct := range conditionTaints {
		if conditionStatus(node, ct.cond) == ct.status {
			want = append(want, corev1.Taint{Key: ct.key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	switch readyStatus(node) {
	case corev1.ConditionFalse:
		want = append(want, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute})
	case corev1.ConditionUnknown:
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
	}

	for _, t := range node.Spec.Taints {
		if ownedTaintKeys[t.Key] {
			// Keep an owned taint we still want (with its timeAdded); drop the rest.
			i := slices.IndexFunc(want, func(w corev1.Taint) bool { return w.Key == t.Key && w.Effect == t.Effect })
			if i < 0 {
				changed = true
				continue
			}
			if want[i].Value != t.Value {
				changed = true
			}
			want[i].TimeAdded = t.TimeAdded
			want[i].Value = ""
			taints = append(taints, want[i])
			want = slices.Delete(want, i, i+1)
			continue
		}
		taints = append(taints, t)
	}
	if len(want) > 0 {
		changed = true
		taints = append(taints, want...)
	}
	for i := range taints {
		if taints[i].Effect == corev1.TaintEffectNoExecute && taints[i].TimeAdded == nil {
			taints[i].TimeAdded = &stamp
			changed = true
		}
	}
	return taints, changed
}

// noExecuteTaints returns the node's NoExecute taints.
func noExecuteTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// Eviction is the verdict for one pod on a NoExecute-tainted node.
type Eviction struct {
	// Evict is false when the pod tolerates every taint forever.
	Evict bool
	// At is when the pod must go (now or earlier means at once).
	At time.Time
	// Taint is the taint that decides At.
	Taint corev1.Taint
}

// evictionFor decides when a pod with these tolerations must leave a node with these
// NoExecute taints, as Kubernetes' taint eviction does: a taint no toleration matches
// evicts at once; otherwise the first matching toleration of each taint gives a
// deadline of the taint's timeAdded plus tolerationSeconds (none: tolerated forever),
// and the earliest deadline wins.
func evictionFor(tolerations []corev1.Toleration, taints []corev1.Taint, now time.Time) Eviction {
	var verdict Eviction
	for _, taint := range taints {
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		i := slices.IndexFunc(tolerations, func(tol corev1.Toleration) bool {
			return tol.ToleratesTaint(logr.Discard(), &taint, true)
		})
		if i < 0 {
			return Eviction{Evict: true, At: now, Taint: taint}
		}
		secs := tolerations[i].TolerationSeconds
		if secs == nil {
			continue
		}
		// The deadline counts from when the taint was added; a timeAdded further in the
		// future than its rounding explains is clock skew, and counts from now.
		start := now
		if taint.TimeAdded != nil && !taint.TimeAdded.Time.After(now.Add(time.Second)) {
			start = taint.TimeAdded.Time
		}
		at := start.Add(time.Duration(max(*secs, 0)) * time.Second)
		if !verdict.Evict || at.Before(verdict.At) {
			verdict = Eviction{Evict: true, At: at, Taint: taint}
		}
	}
	return verdict
}
