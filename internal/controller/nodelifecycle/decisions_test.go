package nodelifecycle

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func nodeWith(ready corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady"}}
	}
	n.Spec.Taints = taints
	return n
}

func TestStaleConditions(t *testing.T) {
	grace := 40 * time.Second
	tests := []struct {
		name      string
		node      *corev1.Node
		lastHeard time.Time
		changed   bool
		ready     corev1.ConditionStatus
		reason    string
	}{
		{"fresh node untouched", nodeWith(corev1.ConditionTrue), t0.Add(-39 * time.Second), false, corev1.ConditionTrue, "KubeletReady"},
		{"silent for the grace period", nodeWith(corev1.ConditionTrue), t0.Add(-40 * time.Second), true, corev1.ConditionUnknown, reasonNodeStatusUnknown},
		{"NotReady node goes Unknown too", nodeWith(corev1.ConditionFalse), t0.Add(-time.Minute), true, corev1.ConditionUnknown, reasonNodeStatusUnknown},
		{"never posted status", nodeWith(""), t0.Add(-time.Minute), true, corev1.ConditionUnknown, reasonNodeNeverUpdated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conds, changed := staleConditions(tt.node, tt.lastHeard, t0, grace)
			if changed != tt.changed {
				t.Fatalf("changed = %v, want %v", changed, tt.changed)
			}
			n := tt.node.DeepCopy()
			n.Status.Conditions = conds
			for _, c := range conds {
				if c.Type == corev1.NodeReady && (c.Status != tt.ready || c.Reason != tt.reason) {
					t.Fatalf("Ready = %s/%s, want %s/%s", c.Status, c.Reason, tt.ready, tt.reason)
				}
			}
			if tt.changed {
				if len(conds) != len(kubeletConditions) {
					t.Fatalf("want all %d kubelet conditions, got %v", len(kubeletConditions), conds)
				}
				if _, again := staleConditions(n, tt.lastHeard, t0.Add(time.Minute), grace); again {
					t.Fatal("marking an Unknown node again must be a no-op")
				}
			}
			if tt.node.Status.Conditions != nil && tt.changed && tt.node.Status.Conditions[0].Status == corev1.ConditionUnknown {
				t.Fatal("input node was modified")
			}
		})
	}
}

func TestDesiredTaints(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	now := metav1.NewTime(t0)
	user := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	unreachableNS := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	unreachableNE := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}
	tests := []struct {
		name    string
		node    *corev1.Node
		want    []corev1.Taint
		changed bool
	}{
		{"ready node keeps user taints", nodeWith(corev1.ConditionTrue, user), []corev1.Taint{user}, false},
		{"unknown gets unreachable", nodeWith(corev1.ConditionUnknown, user),
			[]corev1.Taint{user, unreachableNS, {Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now}}, true},
		{"unreachable kept with its timeAdded", nodeWith(corev1.ConditionUnknown, unreachableNS, unreachableNE),
			[]corev1.Taint{unreachableNS, unreachableNE}, false},
		{"unknown to false swaps taints", nodeWith(corev1.ConditionFalse, unreachableNS, unreachableNE), []corev1.Taint{
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now}}, true},
		{"recovered node loses them", nodeWith(corev1.ConditionTrue, unreachableNS, user, unreachableNE), []corev1.Taint{user}, true},
		{"cordoned", func() *corev1.Node { n := nodeWith(corev1.ConditionTrue); n.Spec.Unschedulable = true; return n }(),
			[]corev1.Taint{{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}, true},
		{"user NoExecute gets timeAdded", nodeWith(corev1.ConditionTrue, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoExecute}),
			[]corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoExecute, TimeAdded: &now}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := desiredTaints(tt.node, t0)
			if changed != tt.changed {
				t.Fatalf("changed = %v, want %v (got %v)", changed, tt.changed, got)
			}
			if !sameTaints(got, tt.want) {
				t.Fatalf("taints = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvictionFor(t *testing.T) {
	added := metav1.NewTime(t0.Add(-10 * time.Second))
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	other := corev1.Taint{Key: "maintenance", Value: "yes", Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	tolerate := func(key string, secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
	}
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		taints      []corev1.Taint
		evict       bool
		at          time.Time
	}{
		{"no toleration: at once", nil, []corev1.Taint{unreachable}, true, t0},
		{"default 300 s counts from timeAdded", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr[int64](300))},
			[]corev1.Taint{unreachable}, true, t0.Add(290 * time.Second)},
		{"expired toleration: past deadline", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr[int64](2))},
			[]corev1.Taint{unreachable}, true, t0.Add(-8 * time.Second)},
		{"tolerated forever", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)}, []corev1.Taint{unreachable}, false, time.Time{}},
		{"wildcard toleration", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, []corev1.Taint{unreachable, other}, false, time.Time{}},
		{"one taint not tolerated", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)}, []corev1.Taint{unreachable, other}, true, t0},
		{"earliest deadline wins", []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr[int64](60)), tolerate("maintenance", ptr[int64](20))},
			[]corev1.Taint{unreachable, other}, true, t0.Add(10 * time.Second)},
		{"NoSchedule toleration does not count", []corev1.Toleration{{Key: "maintenance", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			[]corev1.Taint{other}, true, t0},
		{"no timeAdded counts from now", []corev1.Toleration{tolerate("maintenance", ptr[int64](5))},
			[]corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}}, true, t0.Add(5 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := evictionFor(tt.tolerations, tt.taints, t0)
			if v.Evict != tt.evict || (tt.evict && !v.At.Equal(tt.at)) {
				t.Fatalf("got evict=%v at=%v, want evict=%v at=%v", v.Evict, v.At, tt.evict, tt.at)
			}
		})
	}
}
