package framework_test

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berth/berth/internal/scheduler/framework"
	"github.com/berth/berth/internal/scheduler/plugins"
	st "github.com/berth/berth/internal/scheduler/schedulertest"
)

// harness plays the scheduler's part without I/O: it schedules pods one after the other
// on a snapshot, accounting each placed pod before the next decision (as the cache's
// assumption does).
type harness struct {
	snap *framework.Snapshot
	algo *framework.Algorithm
}

func newHarness(nodes ...*corev1.Node) *harness {
	return &harness{snap: framework.SnapshotOf(nodes, nil), algo: framework.NewAlgorithm(plugins.DefaultProfile())}
}

func (h *harness) schedule(pod *corev1.Pod, selector labels.Selector) (string, error) {
	pi := framework.NewPodInfo(pod)
	pi.DefaultSpreadSelector = selector
	res, err := h.algo.Schedule(h.snap, pi)
	if err != nil {
		return "", err
	}
	placed := pod.DeepCopy()
	placed.Spec.NodeName = res.NodeName
	h.snap.AddPod(framework.NewPodInfo(placed))
	return res.NodeName, nil
}

func zoneNodes() []*corev1.Node {
	return []*corev1.Node{
		st.Node("node-1", "4", "8Gi", 110).Zone("z1").Obj(),
		st.Node("node-2", "4", "8Gi", 110).Zone("z2").Obj(),
		st.Node("node-3", "4", "8Gi", 110).Zone("z3").Obj(),
	}
}

func TestHarnessSpreadsWithMaxSkew(t *testing.T) {
	h := newHarness(zoneNodes()...)
	counts := map[string]int{}
	for i := range 10 {
		p := st.Pod("default", fmt.Sprintf("web-%d", i)).Label("app", "web").Req("100m", "64Mi").
			Spread(1, corev1.LabelTopologyZone, corev1.DoNotSchedule, "app", "web").Obj()
		n, err := h.schedule(p, nil)
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		counts[n]++
		lo, hi := 1<<30, 0
		for _, node := range []string{"node-1", "node-2", "node-3"} {
			lo, hi = min(lo, counts[node]), max(hi, counts[node])
		}
		if hi-lo > 1 {
			t.Fatalf("after pod %d the skew is %d: %v", i, hi-lo, counts)
		}
	}
}

func TestHarnessSpreadsOwnedPodsByDefault(t *testing.T) {
	h := newHarness(zoneNodes()...)
	counts := map[string]int{}
	sel := labels.SelectorFromSet(labels.Set{"app": "foo"})
	for i := range 9 {
		p := st.Pod("default", fmt.Sprintf("foo-%d", i)).Label("app", "foo").Owner("ReplicaSet", "foo", "rs-foo").Obj()
		n, err := h.schedule(p, sel)
		if err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	for _, n := range []string{"node-1", "node-2", "node-3"} {
		if counts[n] != 3 {
			t.Fatalf("want 3 pods per node, got %v", counts)
		}
	}
}

func TestHarnessIsDeterministic(t *testing.T) {
	run := func() []string {
		var nodes []*corev1.Node
		for i := range 300 {
			nodes = append(nodes, st.Node(fmt.Sprintf("n%03d", i), "8", "16Gi", 110).Zone(fmt.Sprintf("z%d", i%3)).Obj())
		}
		h := newHarness(nodes...)
		var out []string
		for i := range 200 {
			n, err := h.schedule(st.Pod("default", fmt.Sprintf("p%d", i)).Req("250m", "256Mi").Obj(), nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("decision %d differs: %s vs %s", i, a[i], b[i])
		}
	}
	distinct := map[string]bool{}
	for _, n := range a {
		distinct[n] = true
	}
	if len(distinct) < 150 {
		t.Fatalf("200 equal pods landed on only %d of 300 equal nodes", len(distinct))
	}
}

func TestHarnessFailureMessages(t *testing.T) {
	cases := []struct {
		name  string
		nodes []*corev1.Node
		pod   *corev1.Pod
		want  string
	}{
		{"all short of cpu", zoneNodes(), st.Pod("default", "big").Req("5", "").Obj(),
			"0/3 nodes are available: 3 Insufficient cpu."},
		{"cordon is reported before resources",
			[]*corev1.Node{st.Node("a", "1", "1Gi", 110).Unschedulable().Obj(), st.Node("b", "1", "1Gi", 110).Obj(), st.Node("c", "1", "1Gi", 110).Obj()},
			st.Pod("default", "big").Req("2", "").Obj(),
			"0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu."},
		{"selector and taint",
			[]*corev1.Node{st.Node("a", "1", "1Gi", 110).Taint("dedicated", "x", corev1.TaintEffectNoSchedule).Obj(), st.Node("b", "1", "1Gi", 110).Obj()},
			st.Pod("default", "p").NodeSelector("disk", "ssd").Obj(),
			"0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s)."},
		{"cpu and memory on one node", []*corev1.Node{st.Node("a", "1", "1Gi", 110).Obj()},
			st.Pod("default", "p").Req("2", "2Gi").Obj(),
			"0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newHarness(tc.nodes...).schedule(tc.pod, nil)
			var fe *framework.FitError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FitError, got %v", err)
			}
			if fe.Error() != tc.want {
				t.Errorf("got  %q\nwant %q", fe.Error(), tc.want)
			}
		})
	}
	if _, err := newHarness().schedule(st.Pod("default", "p").Obj(), nil); !errors.Is(err, framework.ErrNoNodesAvailable) || err.Error() != "no nodes available to schedule pods" {
		t.Errorf("no nodes: got %v", err)
	}
}

func TestHarnessFillsAndThenFails(t *testing.T) {
	h := newHarness(st.Node("a", "2", "4Gi", 110).Obj(), st.Node("b", "2", "4Gi", 110).Obj())
	for i := range 4 {
		if _, err := h.schedule(st.Pod("default", fmt.Sprintf("p%d", i)).Req("1", "1Gi").Obj(), nil); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	_, err := h.schedule(st.Pod("default", "p4").Req("1", "1Gi").Obj(), nil)
	if err == nil || err.Error() != "0/2 nodes are available: 2 Insufficient cpu." {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkSchedule measures one scheduling cycle on nodes holding pods of one
// ReplicaSet — the shapes of the throughput benchmark: 1 000 nodes with 10 000 pods, and
// 5 000 nodes with 30 000.
func BenchmarkSchedule(b *testing.B) {
	for _, shape := range []struct{ nodes, placed int }{{1000, 10000}, {5000, 30000}} {
		b.Run(fmt.Sprintf("%d-nodes", shape.nodes), func(b *testing.B) { benchmarkSchedule(b, shape.nodes, shape.placed) })
	}
}

func benchmarkSchedule(b *testing.B, numNodes, placed int) {
	var nodes []*corev1.Node
	for i := range numNodes {
		nodes = append(nodes, st.Node(fmt.Sprintf("node-%04d", i), "32", "64Gi", 110).Zone(fmt.Sprintf("z%d", i%3)).Obj())
	}
	h := newHarness(nodes...)
	sel := labels.SelectorFromSet(labels.Set{"app": "bench"})
	mk := func(i int) *corev1.Pod {
		return st.Pod("default", fmt.Sprintf("bench-%d", i)).UID(fmt.Sprintf("uid-%d", i)).Label("app", "bench").
			Owner("ReplicaSet", "bench", "rs-bench").Req("10m", "16Mi").Obj()
	}
	for i := range placed {
		if _, err := h.schedule(mk(i), sel); err != nil {
			b.Fatal(err)
		}
	}
	pods := make([]*corev1.Pod, b.N)
	for i := range pods {
		pods[i] = mk(placed + i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		pi := framework.NewPodInfo(pods[i])
		pi.DefaultSpreadSelector = sel
		if _, err := h.algo.Schedule(h.snap, pi); err != nil {
			b.Fatal(err)
		}
	}
}

// Equal pods on equal nodes whose names differ only at the end must still spread: the
// tie-break is the only thing telling the nodes apart.
func TestHarnessTieBreakSpreads(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 100 {
		nodes = append(nodes, st.Node(fmt.Sprintf("sim-%d", i), "32", "64Gi", 110).Obj())
	}
	h := newHarness(nodes...)
	counts := map[string]int{}
	for i := range 300 {
		n, err := h.schedule(st.Pod("bench", fmt.Sprintf("bench-%d", i)).UID(fmt.Sprintf("5d1c2f3e-0000-4000-8000-%012d", i)).Req("10m", "16Mi").Obj(), nil)
		if err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	if most > 10 || len(counts) < 80 {
		t.Fatalf("300 pods over 100 nodes: %d nodes used, at most %d on one", len(counts), most)
	}
}
