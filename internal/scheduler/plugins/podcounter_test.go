package plugins

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth/berth/internal/scheduler/framework"
)

var (
	_ framework.PodCounter = InterPodAffinity{}
	_ framework.PodCounter = PodTopologySpread{}
)

// TestPodCounterMatchesPreFilter: counting one pod in or out with UpdateState gives the
// state PreFilter computes for the cluster with or without it — for every placed pod.
func TestPodCounterMatchesPreFilter(t *testing.T) {
	nodes := []*corev1.Node{
		node("a").Zone("z1").Obj(), node("b").Zone("z1").Obj(), node("c").Zone("z2").Obj(),
		node("no-zone").Obj(),
	}
	pods := []*corev1.Pod{
		pod("web-a").Label("app", "web").Node("a").Obj(),
		pod("web-b").Label("app", "web").Node("b").Obj(),
		pod("web-c").Label("app", "web").Node("c").Obj(),
		pod("web-nz").Label("app", "web").Node("no-zone").Obj(),
		pod("db-a").Label("app", "db").Node("a").Obj(),
		pod("avoids-web").Label("app", "cache").PodAffinity(true, 0, corev1.LabelTopologyZone, "app", "web").Node("c").Obj(),
		pod("avoids-self").Label("app", "web").PodAffinity(true, 0, corev1.LabelHostname, "app", "web").Node("b").Obj(),
	}
	elsewhere := pod("elsewhere").Label("app", "web").Node("a").Obj()
	elsewhere.Namespace = "other"
	pods = append(pods, elsewhere)
	incoming := map[string]*corev1.Pod{
		"affinity to db, anti-affinity to web": pod("in").Label("app", "web").
			PodAffinity(false, 0, corev1.LabelTopologyZone, "app", "db").
			PodAffinity(true, 0, corev1.LabelHostname, "app", "web").Obj(),
		"spread by zone and host": pod("in").Label("app", "web").
			Spread(1, corev1.LabelTopologyZone, corev1.DoNotSchedule, "app", "web").
			Spread(2, corev1.LabelHostname, corev1.DoNotSchedule, "app", "web").MinDomains(3).Obj(),
	}
	for name, in := range incoming {
		for _, pl := range []interface {
			framework.FilterPlugin
			framework.PodCounter
		}{InterPodAffinity{}, PodTopologySpread{}} {
			for i, x := range pods {
				without := slices.Delete(slices.Clone(pods), i, i+1)
				full, part := framework.SnapshotOf(nodes, pods), framework.SnapshotOf(nodes, without)
				pi := framework.NewPodInfo(in)
				xi := full.Get(x.Spec.NodeName)
				var placed *framework.PodInfo
				for _, p := range xi.Pods {
					if p.Pod.Name == x.Name && p.Pod.Namespace == x.Namespace {
						placed = p
					}
				}
				want, _, _ := pl.PreFilter(full, pi)
				base, _, _ := pl.PreFilter(part, pi)
				if base == nil {
					continue // the plugin has nothing to count for this pod
				}
				added := pl.CloneState(base)
				pl.UpdateState(full, added, pi, placed, xi, 1)
				if !sameState(added, want) {
					t.Errorf("%s, %s: counting %s in gives %+v, PreFilter with it %+v", name, pl.Name(), x.Name, added, want)
				}
				removed := pl.CloneState(want)
				pl.UpdateState(full, removed, pi, placed, xi, -1)
				if !sameState(removed, base) {
					t.Errorf("%s, %s: counting %s out gives %+v, PreFilter without it %+v", name, pl.Name(), x.Name, removed, base)
				}
				if !sameState(want, mustPreFilter(pl, full, pi)) {
					t.Errorf("%s, %s: UpdateState changed the state it cloned", name, pl.Name())
				}
			}
		}
	}
}

func mustPreFilter(pl framework.FilterPlugin, snap *framework.Snapshot, pi *framework.PodInfo) any {
	s, _, _ := pl.PreFilter(snap, pi)
	return s
}

// sameState compares two states of one plugin, a nil map equal to an empty one.
func sameState(x, y any) bool {
	switch a := x.(type) {
	case *affinityFilterState:
		b := y.(*affinityFilterState)
		return maps.Equal(a.existingAnti, b.existingAnti) && maps.Equal(a.affinity, b.affinity) && maps.Equal(a.anti, b.anti)
	case *spreadFilterState:
		b := y.(*spreadFilterState)
		if !slices.Equal(a.minMatch, b.minMatch) || len(a.counts) != len(b.counts) {
			return false
		}
		for i := range a.counts {
			if !maps.Equal(a.counts[i], b.counts[i]) {
				return false
			}
		}
		return true
	}
	return false
}
