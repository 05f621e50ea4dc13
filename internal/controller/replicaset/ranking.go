package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/podutil"
)

// PodDeletionCostAnnotation lets users say which pods of a workload go first on scale-down
// (lower cost first), as in Kubernetes.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podsToDelete picks the n pods to remove first. related are the active pods of the
// workload and its siblings (ReplicaSets of the same Deployment); a pod sharing its node with
// more of them goes earlier, which keeps a workload spread out.
func podsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range related {
		if IsPodActive(p) {
			perNode[p.Spec.NodeName]++
		}
	}
	ranked := &rankedPods{pods: append([]*corev1.Pod(nil), pods...), rank: make([]int, len(pods)), now: now}
	for i, p := range ranked.pods {
		ranked.rank[i] = perNode[p.Spec.NodeName]
	}
	sort.Sort(ranked)
	return ranked.pods[:n]
}

// rankedPods orders pods by how cheap they are to delete, cheapest first:
// unassigned < assigned; Pending < Unknown < Running; not ready < ready; lower deletion
// cost; more co-located siblings; ready for less time; more restarts; newer.
// Times compare on a log2 scale (pods of similar age count as equal), as Kubernetes'
// LogarithmicScaleDown does, with the UID as the tie-break.
type rankedPods struct {
	pods []*corev1.Pod
	rank []int
	now  time.Time
}

func (s *rankedPods) Len() int { return len(s.pods) }

func (s *rankedPods) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.rank[i], s.rank[j] = s.rank[j], s.rank[i]
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func (s *rankedPods) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrder[a.Status.Phase], phaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := podutil.IsReady(a), podutil.IsReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if s.rank[i] != s.rank[j] {
		return s.rank[i] > s.rank[j]
	}
	if podutil.IsReady(a) && podutil.IsReady(b) {
		ta, tb := podReadyTime(a), podReadyTime(b)
		if !ta.Equal(&tb) {
			if less, decided := s.newerFirst(ta, tb, a, b); decided {
				return less
			}
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if less, decided := s.newerFirst(a.CreationTimestamp, b.CreationTimestamp, a, b); decided {
			return less
		}
	}
	return false
}

// newerFirst orders two different times newer (or zero) first, on a log2 scale of age.
func (s *rankedPods) newerFirst(ta, tb metav1.Time, a, b *corev1.Pod) (less, decided bool) {
	if ta.IsZero() || tb.IsZero() || s.now.IsZero() {
		return afterOrZero(ta, tb), true
	}
	if d := log2Age(ta, s.now) - log2Age(tb, s.now); d != 0 {
		return d < 0, true
	}
	return a.UID < b.UID, true
}

func afterOrZero(a, b metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

func log2Age(t metav1.Time, now time.Time) int64 {
	d := now.Sub(t.Time)
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

func deletionCost(pod *corev1.Pod) int32 {
	v, ok := pod.Annotations[PodDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func maxRestarts(pod *corev1.Pod) int32 {
	var m int32
	for _, c := range pod.Status.ContainerStatuses {
		m = max(m, c.RestartCount)
	}
	return m
}
