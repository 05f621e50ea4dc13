package framework

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestOwnerCountsFollowChanges: after any sequence of node and pod changes, the
// snapshot's per-owner node and zone counts equal a count over the pods it holds
// (controlled, not terminating; zones only for nodes with a Node object).
func TestOwnerCountsFollowChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewSnapshot()
	owners := []types.UID{"rs-a", "rs-b", ""}
	type placed struct {
		node string
		uid  types.UID
	}
	var pods []placed
	for step := range 3000 {
		node := fmt.Sprintf("n%d", rng.IntN(6))
		switch op := rng.IntN(10); {
		case op < 2: // a node (re)appears, maybe in another zone
			s.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node,
				Labels: map[string]string{corev1.LabelTopologyZone: fmt.Sprintf("z%d", rng.IntN(2))}}})
		case op < 3:
			s.RemoveNode(node)
		case op < 7:
			uid := types.UID(fmt.Sprintf("pod-%d", step))
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: string(uid), UID: uid}, Spec: corev1.PodSpec{NodeName: node}}
			if owner := owners[rng.IntN(len(owners))]; owner != "" {
				pod.OwnerReferences = []metav1.OwnerReference{{UID: owner, Controller: new(true), Kind: "ReplicaSet", Name: string(owner)}}
			}
			if rng.IntN(5) == 0 {
				pod.DeletionTimestamp = &metav1.Time{}
			}
			s.AddPod(NewPodInfo(pod))
			pods = append(pods, placed{node, uid})
		default:
			if len(pods) == 0 {
				continue
			}
			i := rng.IntN(len(pods))
			s.RemovePod(pods[i].node, pods[i].uid)
			pods = append(pods[:i], pods[i+1:]...)
		}

		wantNodes := map[types.UID]map[*NodeInfo]int32{}
		wantZones := map[types.UID]map[string]int32{}
		for _, ni := range s.nodes {
			for _, pi := range ni.Pods {
				if pi.ControllerUID == "" || pi.Terminating() {
					continue
				}
				if wantNodes[pi.ControllerUID] == nil {
					wantNodes[pi.ControllerUID] = map[*NodeInfo]int32{}
				}
				wantNodes[pi.ControllerUID][ni]++
				if ni.Node != nil && ni.hasZone {
					if wantZones[pi.ControllerUID] == nil {
						wantZones[pi.ControllerUID] = map[string]int32{}
					}
					wantZones[pi.ControllerUID][ni.zone]++
				}
			}
		}
		for _, owner := range owners[:2] {
			if got := s.OwnerNodeCounts(owner); !maps.Equal(got, wantNodes[owner]) {
				t.Fatalf("step %d: %s per node %v, want %v", step, owner, got, wantNodes[owner])
			}
			for _, z := range []string{"z0", "z1"} {
				id, ok := s.zoneIDs[z]
				if !ok {
					continue
				}
				if got, want := s.OwnerCountInZone(owner, id), wantZones[owner][z]; got != want {
					t.Fatalf("step %d: %s in %s %d, want %d", step, owner, z, got, want)
				}
			}
		}
		if len(s.ownerNodeCounts) > 2 || len(s.ownerZoneCounts) > 2 {
			t.Fatalf("step %d: counts kept for owners without pods: %v %v", step, s.ownerNodeCounts, s.ownerZoneCounts)
		}
	}
}

// TestNodeInfoCopiesSpec: the filters' copies of spec.unschedulable and spec.taints
// follow node updates.
func TestNodeInfoCopiesSpec(t *testing.T) {
	s := NewSnapshot()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	s.SetNode(node)
	if ni := s.Get("n"); ni.Unschedulable || len(ni.Taints) != 0 {
		t.Fatalf("fresh node: unschedulable %v taints %v", ni.Unschedulable, ni.Taints)
	}
	cordoned := node.DeepCopy()
	cordoned.Spec.Unschedulable = true
	cordoned.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}
	s.SetNode(cordoned)
	if ni := s.Get("n"); !ni.Unschedulable || len(ni.Taints) != 1 {
		t.Fatalf("cordoned node: unschedulable %v taints %v", ni.Unschedulable, ni.Taints)
	}
	s.SetNode(node)
	if ni := s.Get("n"); ni.Unschedulable || len(ni.Taints) != 0 {
		t.Fatalf("uncordoned node: unschedulable %v taints %v", ni.Unschedulable, ni.Taints)
	}
}
