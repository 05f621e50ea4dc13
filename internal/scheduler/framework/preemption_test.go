package framework_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berth/berth/internal/scheduler/framework"
	"github.com/berth/berth/internal/scheduler/plugins"
	st "github.com/berth/berth/internal/scheduler/schedulertest"
)

// placed is a pod on node with priority prio, started at minute minute.
func placed(name, node, cpu string, prio int32, minute int) *corev1.Pod {
	p := st.Pod("default", name).Req(cpu, "64Mi").Priority(prio).Node(node).Obj()
	p.Status.StartTime = &metav1.Time{Time: time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)}
	return p
}

// started is a built pod that started at minute minute.
func started(b *st.PodBuilder, minute int) *corev1.Pod {
	p := b.Obj()
	p.Status.StartTime = &metav1.Time{Time: time.Date(2026, 1, 1, 0, minute, 0, 0, time.UTC)}
	return p
}

func names(victims []*framework.PodInfo) []string {
	var out []string
	for _, v := range victims {
		out = append(out, v.Pod.Name)
	}
	slices.Sort(out)
	return out
}

func TestPreempt(t *testing.T) {
	for _, tc := range []struct {
		name        string
		nodes       []*corev1.Node
		pods        []*corev1.Pod
		preemptor   *corev1.Pod
		wantNode    string
		budgets     []framework.DisruptionBudget
		wantVictims []string
		wantErr     string
	}{{
		name:  "least important victims, newest first",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj(), st.Node("b", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			placed("a1", "a", "1", 0, 1), placed("a2", "a", "1", 0, 2), placed("a3", "a", "1", 0, 3), placed("a4", "a", "1", 0, 4),
			placed("b1", "b", "1", 100, 1), placed("b2", "b", "1", 100, 2), placed("b3", "b", "1", 100, 3), placed("b4", "b", "1", 100, 4),
		},
		preemptor:   st.Pod("default", "vip").Req("2", "64Mi").Priority(1000).Obj(),
		wantNode:    "a",
		wantVictims: []string{"a3", "a4"},
	}, {
		name:  "fewer victims when the priorities tie",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj(), st.Node("b", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			placed("a1", "a", "2", 0, 1), placed("a2", "a", "1", 0, 2), placed("a3", "a", "1", 0, 3),
			placed("b1", "b", "2", 0, 1), placed("b2", "b", "2", 0, 2),
		},
		preemptor:   st.Pod("default", "vip").Req("2", "64Mi").Priority(1000).Obj(),
		wantNode:    "b",
		wantVictims: []string{"b2"},
	}, {
		name:  "only lower priorities are victims",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj(), st.Node("b", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			placed("a1", "a", "4", 1000, 1), placed("b1", "b", "3", 2000, 1), placed("b2", "b", "1", 10, 2),
		},
		preemptor: st.Pod("default", "vip").Req("2", "64Mi").Priority(1000).Obj(),
		wantErr:   "0/2 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod.",
	}, {
		name:  "taints and cordons are not helped by preemption",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Taint("dedicated", "x", corev1.TaintEffectNoSchedule).Obj(), st.Node("b", "4", "8Gi", 110).Unschedulable().Obj(), st.Node("c", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			placed("a1", "a", "4", 0, 1), placed("b1", "b", "4", 0, 1), placed("c1", "c", "4", 0, 1),
		},
		preemptor:   st.Pod("default", "vip").Req("1", "64Mi").Priority(1).Obj(),
		wantNode:    "c",
		wantVictims: []string{"c1"},
	}, {
		name:      "no node can ever fit",
		nodes:     []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj(), st.Node("b", "4", "8Gi", 110).Taint("dedicated", "x", corev1.TaintEffectNoSchedule).Obj()},
		pods:      []*corev1.Pod{placed("a1", "a", "1", 0, 1)},
		preemptor: st.Pod("default", "vip").Req("8", "64Mi").Priority(1000).Obj(),
		wantErr:   "0/2 nodes are available: 1 Insufficient cpu, 1 Preemption is not helpful for scheduling.",
	}, {
		name:        "host port held by a lower priority pod",
		nodes:       []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj()},
		pods:        []*corev1.Pod{st.Pod("default", "web").Req("100m", "64Mi").HostPort(80, corev1.ProtocolTCP, "").Node("a").Obj(), placed("other", "a", "100m", 0, 1)},
		preemptor:   st.Pod("default", "vip").Req("100m", "64Mi").HostPort(80, corev1.ProtocolTCP, "").Priority(5).Obj(),
		wantNode:    "a",
		wantVictims: []string{"web"},
	}, {
		name:  "a node breaking no budget beats a node with less important victims",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj(), st.Node("b", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			placed("a1", "a", "4", 0, 1), placed("b1", "b", "4", 100, 1),
		},
		budgets:     []framework.DisruptionBudget{{Namespace: "default", Selector: labels.SelectorFromSet(labels.Set{"app": "guarded"}), Allowed: 0}},
		preemptor:   st.Pod("default", "vip").Req("2", "64Mi").Priority(1000).Obj(),
		wantNode:    "b",
		wantVictims: []string{"b1"},
	}, {
		name:  "protected pods are given back first",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			placed("free-old", "a", "2", 0, 1), placed("guarded-new", "a", "2", 0, 2),
		},
		budgets:     []framework.DisruptionBudget{{Namespace: "default", Selector: labels.SelectorFromSet(labels.Set{"app": "guarded"}), Allowed: 0}},
		preemptor:   st.Pod("default", "vip").Req("2", "64Mi").Priority(1000).Obj(),
		wantNode:    "a",
		wantVictims: []string{"free-old"}, // without the budget: guarded-new, the less important
	}, {
		name:  "the preemptor's anti-affinity is resolved by evicting the pods it avoids",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj(), st.Node("b", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			started(st.Pod("default", "db").Req("1", "64Mi").Label("app", "db").Priority(0).Node("a"), 1),
			started(st.Pod("default", "bystander").Req("1", "64Mi").Priority(0).Node("a"), 2),
			started(st.Pod("default", "db-important").Req("1", "64Mi").Label("app", "db").Priority(2000).Node("b"), 1),
		},
		preemptor:   st.Pod("default", "vip").Req("1", "64Mi").Priority(1000).PodAffinity(true, 0, corev1.LabelHostname, "app", "db").Obj(),
		wantNode:    "a",
		wantVictims: []string{"db"},
	}, {
		name:  "a lower-priority pod's anti-affinity against the preemptor",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj()},
		pods: []*corev1.Pod{
			started(st.Pod("default", "loner").Req("1", "64Mi").Priority(0).PodAffinity(true, 0, corev1.LabelHostname, "app", "vip").Node("a"), 1),
			started(st.Pod("default", "bystander").Req("1", "64Mi").Priority(0).Node("a"), 2),
		},
		preemptor:   st.Pod("default", "vip").Req("1", "64Mi").Label("app", "vip").Priority(1000).Obj(),
		wantNode:    "a",
		wantVictims: []string{"loner"},
	}, {
		name:  "spreading is restored by evicting the newest matching pod",
		nodes: []*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj(), st.Node("b", "4", "8Gi", 110).Unschedulable().Obj()},
		pods: []*corev1.Pod{
			started(st.Pod("default", "web-old").Req("100m", "64Mi").Label("app", "web").Priority(0).Node("a"), 1),
			started(st.Pod("default", "web-new").Req("100m", "64Mi").Label("app", "web").Priority(0).Node("a"), 2),
		},
		preemptor:   st.Pod("default", "vip").Req("100m", "64Mi").Label("app", "web").Priority(1000).Spread(2, corev1.LabelHostname, corev1.DoNotSchedule, "app", "web").Obj(),
		wantNode:    "a",
		wantVictims: []string{"web-new"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.pods {
				if tc.budgets != nil && (p.Name == "a1" || strings.HasPrefix(p.Name, "guarded")) {
					p.Labels["app"] = "guarded"
				}
			}
			snap := framework.SnapshotOf(tc.nodes, tc.pods)
			algo := framework.NewAlgorithm(plugins.DefaultProfile())
			pi := framework.NewPodInfo(tc.preemptor)
			if _, err := algo.Schedule(snap, pi); err == nil {
				t.Fatal("the preemptor fits without preemption; the case tests nothing")
			}
			got, fe := algo.Preempt(snap, pi, tc.budgets)
			if tc.wantErr != "" {
				if fe == nil || fe.Error() != tc.wantErr {
					t.Fatalf("Preempt = %+v, %v; want error %q", got, fe, tc.wantErr)
				}
				return
			}
			if fe != nil {
				t.Fatalf("Preempt: %v", fe)
			}
			if got.Node != tc.wantNode || !slices.Equal(names(got.Victims), tc.wantVictims) {
				t.Fatalf("Preempt = node %s victims %v; want %s %v", got.Node, names(got.Victims), tc.wantNode, tc.wantVictims)
			}
			// Once the victims are gone, the pod fits on the chosen node.
			for _, v := range got.Victims {
				snap.RemovePod(v.Pod.Spec.NodeName, v.Pod.UID)
			}
			if res, err := algo.Schedule(snap, pi); err != nil || (len(tc.nodes) == 1 && res.NodeName != tc.wantNode) {
				t.Fatalf("after the victims left: %v %v", res, err)
			}
		})
	}
}

// TestNominatedPodKeepsItsRoom: while a preemptor waits on its nominated node, pods of
// lower priority cannot take the room freed for it; pods of higher priority can.
func TestNominatedPodKeepsItsRoom(t *testing.T) {
	snap := framework.SnapshotOf([]*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj()}, []*corev1.Pod{placed("low", "a", "2", 0, 1)})
	algo := framework.NewAlgorithm(plugins.DefaultProfile())
	vip := framework.NewPodInfo(st.Pod("default", "vip").Req("2", "64Mi").Priority(1000).Obj())
	snap.Nominate(vip, "a")
	for _, tc := range []struct {
		prio int32
		fits bool
	}{{0, false}, {1000, false}, {2000, true}} {
		pod := framework.NewPodInfo(st.Pod("default", fmt.Sprintf("p%d", tc.prio)).Req("1", "64Mi").Priority(tc.prio).Obj())
		_, err := algo.Schedule(snap, pod)
		if (err == nil) != tc.fits {
			t.Errorf("priority %d: err = %v, want fits=%v", tc.prio, err, tc.fits)
		}
	}
	// The nominated pod itself is not in its own way.
	if _, err := algo.Schedule(snap, vip); err != nil {
		t.Fatalf("nominated pod: %v", err)
	}
	snap.Unnominate(vip.Pod.UID)
	if _, err := algo.Schedule(snap, framework.NewPodInfo(st.Pod("default", "later").Req("1", "64Mi").Obj())); err != nil {
		t.Fatalf("after the nomination was withdrawn: %v", err)
	}
}

// TestNominatedPodsCountForAffinity: a nominated pod's anti-affinity keeps pods it avoids
// (of no higher priority) off its node, as if it were already there.
func TestNominatedPodsCountForAffinity(t *testing.T) {
	snap := framework.SnapshotOf([]*corev1.Node{st.Node("a", "4", "8Gi", 110).Obj()}, nil)
	algo := framework.NewAlgorithm(plugins.DefaultProfile())
	vip := framework.NewPodInfo(st.Pod("default", "vip").Req("1", "64Mi").Priority(1000).PodAffinity(true, 0, corev1.LabelHostname, "app", "web").Obj())
	snap.Nominate(vip, "a")
	for _, tc := range []struct {
		prio    int32
		wantErr string
	}{
		{0, "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."},
		{2000, ""},
	} {
		web := framework.NewPodInfo(st.Pod("default", fmt.Sprintf("web-%d", tc.prio)).Req("1", "64Mi").Label("app", "web").Priority(tc.prio).Obj())
		_, err := algo.Schedule(snap, web)
		if got := fmt.Sprint(err); (tc.wantErr == "" && err != nil) || (tc.wantErr != "" && got != tc.wantErr) {
			t.Errorf("priority %d: err = %v, want %q", tc.prio, err, tc.wantErr)
		}
	}
	// Pods the nominated pod does not avoid still fit.
	if _, err := algo.Schedule(snap, framework.NewPodInfo(st.Pod("default", "db").Req("1", "64Mi").Label("app", "db").Obj())); err != nil {
		t.Fatalf("unrelated pod: %v", err)
	}
}

// BenchmarkPreempt: a full 5 000-node cluster of 30 000 pods and a pod that fits nowhere —
// of the same priority (nothing to preempt: the common case, answered without looking at
// pods), and of a higher one (every node tried, victims chosen).
func BenchmarkPreempt(b *testing.B) {
	var nodes []*corev1.Node
	var pods []*corev1.Pod
	for i := range 5000 {
		name := fmt.Sprintf("node-%04d", i)
		nodes = append(nodes, st.Node(name, "6", "64Gi", 110).Zone(fmt.Sprintf("z%d", i%3)).Obj())
		for j := range 6 {
			pods = append(pods, placed(fmt.Sprintf("p-%d-%d", i, j), name, "1", 0, j))
		}
	}
	snap := framework.SnapshotOf(nodes, pods)
	algo := framework.NewAlgorithm(plugins.DefaultProfile())
	for _, prio := range []int32{0, 1000} {
		b.Run(fmt.Sprintf("priority-%d", prio), func(b *testing.B) {
			pi := framework.NewPodInfo(st.Pod("default", "vip").Req("2", "64Mi").Priority(prio).Obj())
			b.ReportAllocs()
			for range b.N {
				_, fe := algo.Preempt(snap, pi, nil)
				if (fe == nil) != (prio > 0) {
					b.Fatalf("Preempt: %v", fe)
				}
			}
		})
	}
}
