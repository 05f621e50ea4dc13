package plugins

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestLeastAllocatedScore(t *testing.T) {
	nodes := []*corev1.Node{node("empty").Obj(), node("half").Obj()}
	existing := []*corev1.Pod{pod("a").Req("2", "4Gi").Node("half").Obj()}
	runScoreCases(t, NodeResourcesFit{}, []scoreCase{
		{name: "more free is better", pod: pod("p").Req("1", "2Gi").Obj(), nodes: nodes, pods: existing,
			want: map[string]int64{"empty": 75, "half": 25}},
		{name: "missing requests count the defaults (100m, 200Mi)", pod: pod("p").Obj(), nodes: nodes[:1],
			want: map[string]int64{"empty": 97}},
		{name: "over capacity scores 0", pod: pod("p").Req("3", "5Gi").Obj(), nodes: nodes, pods: existing,
			want: map[string]int64{"empty": 31, "half": 0}},
	})
}

func TestBalancedAllocationScore(t *testing.T) {
	nodes := []*corev1.Node{node("a").Obj(), node("b").Obj()}
	existing := []*corev1.Pod{pod("x").Req("", "3Gi").Node("b").Obj()}
	runScoreCases(t, BalancedAllocation{}, []scoreCase{
		{name: "closer fractions score higher", pod: pod("p").Req("1", "1Gi").Obj(), nodes: nodes, pods: existing,
			want: map[string]int64{"a": 93, "b": 87}},
		{name: "best-effort pods skip", pod: pod("p").Obj(), nodes: nodes, pods: existing, want: map[string]int64{}},
	})
}

func TestTaintTolerationScore(t *testing.T) {
	nodes := []*corev1.Node{
		node("two").Taint("a", "", corev1.TaintEffectPreferNoSchedule).Taint("b", "", corev1.TaintEffectPreferNoSchedule).Obj(),
		node("one").Taint("a", "", corev1.TaintEffectPreferNoSchedule).Obj(),
		node("none").Taint("hard", "", corev1.TaintEffectNoSchedule).Obj(),
	}
	runScoreCases(t, TaintToleration{}, []scoreCase{
		{name: "fewer untolerated PreferNoSchedule taints is better", pod: pod("p").Obj(), nodes: nodes,
			want: map[string]int64{"two": 0, "one": 50, "none": 100}},
		{name: "tolerated taints do not count", pod: pod("p").Toleration("a", corev1.TolerationOpExists, "", corev1.TaintEffectPreferNoSchedule).Obj(), nodes: nodes,
			want: map[string]int64{"two": 0, "one": 100, "none": 100}},
	})
}

func TestNodeAffinityScore(t *testing.T) {
	nodes := []*corev1.Node{node("a").Label("disk", "ssd").Zone("z1").Obj(), node("b").Label("disk", "ssd").Obj(), node("c").Obj()}
	term := func(k, v string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: k, Operator: corev1.NodeSelectorOpIn, Values: []string{v}}}}
	}
	runScoreCases(t, NodeAffinity{}, []scoreCase{
		{name: "weights of matched terms, scaled to the best", pod: pod("p").PreferredNodeAffinity(2, term("disk", "ssd")).PreferredNodeAffinity(8, term(zone, "z1")).Obj(),
			nodes: nodes, want: map[string]int64{"a": 100, "b": 20, "c": 0}},
		{name: "no preferences", pod: pod("p").Obj(), nodes: nodes, want: map[string]int64{}},
	})
}

func TestPodTopologySpreadScore(t *testing.T) {
	zoned := []*corev1.Node{node("a1").Zone("a").Obj(), node("b1").Zone("b").Obj(), node("c1").Zone("c").Obj()}
	web := func(name, n string) *corev1.Pod {
		return pod(name).Label("app", "web").Owner("ReplicaSet", "web", "rs1").Node(n).Obj()
	}
	runScoreCases(t, PodTopologySpread{}, []scoreCase{
		{name: "ScheduleAnyway prefers emptier zones",
			pod:   pod("p").Label("app", "web").Spread(1, zone, corev1.ScheduleAnyway, "app", "web").Obj(),
			nodes: zoned, pods: []*corev1.Pod{web("w1", "a1"), web("w2", "a1"), web("w3", "b1")},
			want: map[string]int64{"a1": 0, "b1": 33, "c1": 100}},
		{name: "nodes without the key are not scored",
			pod:   pod("p").Label("app", "web").Spread(1, zone, corev1.ScheduleAnyway, "app", "web").Obj(),
			nodes: append([]*corev1.Node{node("nozone").Obj()}, zoned...), pods: []*corev1.Pod{web("w1", "a1")},
			want: map[string]int64{"nozone": 0, "a1": 0, "b1": 100, "c1": 100}},
		{name: "system default spreads an owner's pods over hosts and zones",
			pod:      pod("p").Label("app", "web").Owner("ReplicaSet", "web", "rs1").Obj(),
			selector: labels.SelectorFromSet(labels.Set{"app": "web"}),
			nodes:    []*corev1.Node{node("n1").Zone("a").Obj(), node("n2").Zone("a").Obj(), node("n3").Zone("b").Obj()},
			pods:     []*corev1.Pod{web("w1", "n1"), web("w2", "n1"), web("w3", "n3")},
			want:     map[string]int64{"n1": 75, "n2": 100, "n3": 100}},
		// As kube-scheduler: n3 is scored for hostname spreading but is no zone domain, so
		// the zone weight is ln(2+2), not ln(3+2) (which would give n1 10 and n2 78).
		{name: "system default: a node without a zone is no zone domain",
			pod:      pod("p").Label("app", "web").Owner("ReplicaSet", "web", "rs1").Obj(),
			selector: labels.SelectorFromSet(labels.Set{"app": "web"}),
			nodes:    []*corev1.Node{node("n1").Zone("a").Obj(), node("n2").Zone("b").Obj(), node("n3").Obj()},
			pods:     []*corev1.Pod{web("w1", "n1"), web("w2", "n1"), web("w3", "n1"), web("w4", "n1")},
			want:     map[string]int64{"n1": 11, "n2": 77, "n3": 100}},
		{name: "no constraints and no owner: no spreading", pod: pod("p").Obj(), nodes: zoned, want: map[string]int64{}},
	})
}

func TestInterPodAffinityScore(t *testing.T) {
	nodes := []*corev1.Node{node("a1").Zone("a").Obj(), node("a2").Zone("a").Obj(), node("b1").Zone("b").Obj()}
	runScoreCases(t, InterPodAffinity{}, []scoreCase{
		{name: "preferred affinity and anti-affinity",
			pod:   pod("p").PodAffinity(false, 10, zone, "app", "cache").PodAffinity(true, 5, corev1.LabelHostname, "app", "web").Obj(),
			nodes: nodes,
			pods:  []*corev1.Pod{pod("c").Label("app", "cache").Node("a1").Obj(), pod("w").Label("app", "web").Node("a2").Obj()},
			want:  map[string]int64{"a1": 100, "a2": 50, "b1": 0}},
		{name: "existing pods' required affinity attracts the pods it selects",
			pod:   pod("p").Label("app", "db").Obj(),
			nodes: nodes,
			pods:  []*corev1.Pod{pod("x").PodAffinity(false, 0, zone, "app", "db").Node("b1").Obj()},
			want:  map[string]int64{"a1": 0, "a2": 0, "b1": 100}},
		{name: "nothing to score", pod: pod("p").Obj(), nodes: nodes, want: map[string]int64{}},
	})
}
