package plugins

import (
	"maps"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berth/berth/internal/scheduler/framework"
)

// System default spreading, applied (as scores only) to pods without constraints of their
// own that belong to a service, ReplicaSet or ReplicationController: like kube-scheduler,
// at most 3 apart per node and 5 per zone.
var systemDefaultConstraints = []framework.SpreadConstraint{
	{MaxSkew: 3, TopologyKey: corev1.LabelHostname, HonorNodeAffinity: true},
	{MaxSkew: 5, TopologyKey: corev1.LabelTopologyZone, HonorNodeAffinity: true},
}

// PodTopologySpread enforces whenUnsatisfiable=DoNotSchedule constraints (filter) and
// prefers nodes that keep ScheduleAnyway constraints — or the system default spreading —
// balanced (score).
type PodTopologySpread struct{}

func (PodTopologySpread) Name() string { return "PodTopologySpread" }

type spreadFilterState struct {
	// counts[i] maps each eligible domain of constraint i to its matching pods.
	counts   []map[string]int
	minMatch []int
}

func (PodTopologySpread) PreFilter(snap *framework.Snapshot, pod *framework.PodInfo) (any, bool, *framework.Status) {
	cs := pod.HardSpread
	if len(cs) == 0 {
		return nil, true, nil
	}
	st := &spreadFilterState{counts: make([]map[string]int, len(cs)), minMatch: make([]int, len(cs))}
	for i := range cs {
		st.counts[i] = map[string]int{}
	}
	for _, ni := range snap.List() {
		if !hasAllTopologyKeys(ni.Node, cs) {
			continue
		}
		for i := range cs {
			if !nodeIncluded(&cs[i], pod, ni.Node) {
				continue
			}
			st.counts[i][ni.Node.Labels[cs[i].TopologyKey]] += countMatching(ni, cs[i].Selector, pod.Pod.Namespace)
		}
	}
	for i := range cs {
		st.minMatch[i] = minMatching(st.counts[i], cs[i].MinDomains)
	}
	return st, false, nil
}

// minMatching is the global minimum of matching pods over a constraint's domains.
func minMatching(counts map[string]int, minDomains int32) int {
	if len(counts) < int(minDomains) {
		return 0 // too few domains: the global minimum counts as 0
	}
	m := math.MaxInt32
	for _, n := range counts {
		m = min(m, n)
	}
	return m
}

func (PodTopologySpread) CloneState(state any) any {
	st := state.(*spreadFilterState)
	c := &spreadFilterState{counts: make([]map[string]int, len(st.counts)), minMatch: slices.Clone(st.minMatch)}
	for i, m := range st.counts {
		c.counts[i] = maps.Clone(m)
	}
	return c
}

// UpdateState counts other in node's domains as PreFilter counts the pods already there.
func (PodTopologySpread) UpdateState(_ *framework.Snapshot, state any, pod, other *framework.PodInfo, node *framework.NodeInfo, delta int) {
	st := state.(*spreadFilterState)
	cs := pod.HardSpread
	if other.Pod.Namespace != pod.Pod.Namespace || other.Terminating() || !hasAllTopologyKeys(node.Node, cs) {
		return
	}
	otherLabels := labels.Set(other.Pod.Labels)
	for i := range cs {
		if !nodeIncluded(&cs[i], pod, node.Node) || !cs[i].Selector.Matches(otherLabels) {
			continue
		}
		st.counts[i][node.Node.Labels[cs[i].TopologyKey]] += delta
		st.minMatch[i] = minMatching(st.counts[i], cs[i].MinDomains)
	}
}

// Filter: for every constraint, matching pods in the node's domain, plus the pod itself
// when it matches, minus the global minimum must not exceed maxSkew.
func (PodTopologySpread) Filter(state any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	st := state.(*spreadFilterState)
	podLabels := labels.Set(pod.Pod.Labels)
	for i := range pod.HardSpread {
		c := &pod.HardSpread[i]
		value, ok := node.Node.Labels[c.TopologyKey]
		if !ok {
			return statusSpreadLabel
		}
		self := 0
		if c.Selector.Matches(podLabels) {
			self = 1
		}
		if st.counts[i][value]+self-st.minMatch[i] > int(c.MaxSkew) {
			return statusSpread
		}
	}
	return nil
}

func (PodTopologySpread) RequeueOn() framework.Event {
	return framework.EventNodeAdd | framework.EventNodeLabel | framework.EventNodeTaint |
		framework.EventPodAdd | framework.EventPodDelete | framework.EventPodLabel
}

type spreadScoreState struct {
	constraints []framework.SpreadConstraint
	// byOwner counts the pods of the pod's controller instead of matching selectors (the
	// system default selector is the controller's own); owned has their counts per node.
	byOwner *framework.PodInfo
	owned   map[*framework.NodeInfo]int32
	ignored map[*framework.NodeInfo]bool
	// counts[i] has constraint i's matching pods per domain present among the feasible
	// nodes; zones[i] replaces it for the zone key, indexed by zone id (-1: domain not
	// present), and a hostname constraint needs neither.
	counts   []map[string]int64
	zones    [][]int64
	weights  []float64
	feasible []*framework.NodeInfo
}

func (PodTopologySpread) PreScore(snap *framework.Snapshot, pod *framework.PodInfo, feasible []*framework.NodeInfo) (any, bool) {
	st := &spreadScoreState{feasible: feasible}
	systemDefault := false
	switch {
	case len(pod.Pod.Spec.TopologySpreadConstraints) > 0:
		st.constraints = pod.SoftSpread
	case pod.DefaultSpreadSelector != nil && !pod.DefaultSpreadSelector.Empty():
		systemDefault = true
		st.constraints = make([]framework.SpreadConstraint, len(systemDefaultConstraints))
		copy(st.constraints, systemDefaultConstraints)
		for i := range st.constraints {
			st.constraints[i].Selector = pod.DefaultSpreadSelector
		}
		if pod.ControllerUID != "" {
			st.byOwner = pod
			st.owned = snap.OwnerNodeCounts(pod.ControllerUID)
		}
	}
	cs := st.constraints
	if len(cs) == 0 {
		return nil, true
	}
	// Nodes without every topology key are not scored — except under system defaults,
	// where a node without a zone still gets hostname spreading.
	requireAll := !systemDefault
	st.counts = make([]map[string]int64, len(cs))
	st.zones = make([][]int64, len(cs))
	sizes := make([]int, len(cs))
	for i := range cs {
		switch cs[i].TopologyKey {
		case corev1.LabelHostname:
		case corev1.LabelTopologyZone:
			st.zones[i] = make([]int64, snap.NumZoneIDs())
			for z := range st.zones[i] {
				st.zones[i][z] = -1
			}
		default:
			st.counts[i] = map[string]int64{}
		}
	}
	for _, ni := range feasible {
		if requireAll && !hasAllTopologyKeys(ni.Node, cs) {
			if st.ignored == nil {
				st.ignored = map[*framework.NodeInfo]bool{}
			}
			st.ignored[ni] = true
			continue
		}
		for i := range cs {
			switch {
			case st.zones[i] != nil:
				if z, ok := ni.ZoneID(); ok && st.zones[i][z] < 0 {
					st.zones[i][z] = 0
					sizes[i]++
				}
			case st.counts[i] != nil:
				value, ok := ni.Node.Labels[cs[i].TopologyKey]
				if !ok {
					continue
				}
				if _, ok := st.counts[i][value]; !ok {
					st.counts[i][value] = 0
					sizes[i]++
				}
			}
		}
	}
	st.weights = make([]float64, len(cs))
	for i := range cs {
		size := sizes[i]
		if cs[i].TopologyKey == corev1.LabelHostname {
			size = len(feasible) - len(st.ignored)
		}
		// Counts in many small domains weigh more than in a few big ones.
		st.weights[i] = math.Log(float64(size + 2))
	}
	if st.byOwner != nil && pod.RequiredNodeAffinity.Empty() {
		// Every node counts: the snapshot's per-zone owner counts are the answer.
		for i := range cs {
			for z, n := range st.zones[i] {
				if n >= 0 {
					st.zones[i][z] = int64(snap.OwnerCountInZone(pod.ControllerUID, int32(z)))
				}
			}
		}
		return st, false
	}
	for _, ni := range snap.List() {
		if requireAll && !hasAllTopologyKeys(ni.Node, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if c.TopologyKey == corev1.LabelHostname || !nodeIncluded(c, pod, ni.Node) {
				continue
			}
			if st.zones[i] != nil {
				if z, ok := ni.ZoneID(); ok && st.zones[i][z] >= 0 {
					st.zones[i][z] += int64(st.count(ni, c, pod))
				}
			} else if value, ok := ni.Node.Labels[c.TopologyKey]; ok {
				if n, ok := st.counts[i][value]; ok {
					st.counts[i][value] = n + int64(st.count(ni, c, pod))
				}
			}
		}
	}
	return st, false
}

func (st *spreadScoreState) count(ni *framework.NodeInfo, c *framework.SpreadConstraint, pod *framework.PodInfo) int {
	if st.byOwner != nil {
		return int(st.owned[ni])
	}
	return countMatching(ni, c.Selector, pod.Pod.Namespace)
}

// Score is the weighted number of matching pods in the node's domains (lower is better;
// Normalize inverts it). maxSkew-1 is added so larger skews tolerate more.
func (PodTopologySpread) Score(state any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	st := state.(*spreadScoreState)
	if st.ignored[node] {
		return 0
	}
	var score float64
	for i := range st.constraints {
		c := &st.constraints[i]
		var cnt int64
		switch {
		case c.TopologyKey == corev1.LabelHostname:
			// A node is its own hostname domain even when it lacks the label (so the
			// label is not even read: with 1 000 nodes that lookup was most of Score).
			cnt = int64(st.count(node, c, pod))
		case st.zones[i] != nil:
			z, ok := node.ZoneID()
			if !ok {
				continue
			}
			cnt = st.zones[i][z]
		default:
			value, ok := node.Node.Labels[c.TopologyKey]
			if !ok {
				continue
			}
			cnt = st.counts[i][value]
		}
		score += float64(cnt)*st.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score))
}

func (PodTopologySpread) Normalize(state any, _ *framework.PodInfo, scores []int64) {
	st := state.(*spreadScoreState)
	lowest, highest := int64(math.MaxInt64), int64(0)
	for j, s := range scores {
		if st.ignored[st.feasible[j]] {
			continue
		}
		lowest, highest = min(lowest, s), max(highest, s)
	}
	for j, s := range scores {
		switch {
		case st.ignored[st.feasible[j]]:
			scores[j] = 0
		case highest == 0:
			scores[j] = framework.MaxNodeScore
		default:
			scores[j] = framework.MaxNodeScore * (highest + lowest - s) / highest
		}
	}
}

func hasAllTopologyKeys(node *corev1.Node, cs []framework.SpreadConstraint) bool {
	for i := range cs {
		if _, ok := node.Labels[cs[i].TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// nodeIncluded applies nodeAffinityPolicy and nodeTaintsPolicy: which nodes' pods count.
func nodeIncluded(c *framework.SpreadConstraint, pod *framework.PodInfo, node *corev1.Node) bool {
	if c.HonorNodeAffinity && !pod.RequiredNodeAffinity.Match(node) {
		return false
	}
	if c.HonorTaints {
		for i := range node.Spec.Taints {
			t := &node.Spec.Taints[i]
			if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) &&
				!framework.Tolerates(pod.Pod.Spec.Tolerations, t) {
				return false
			}
		}
	}
	return true
}

// countMatching counts the non-terminating pods of namespace ns on the node that sel
// selects.
func countMatching(ni *framework.NodeInfo, sel labels.Selector, ns string) int {
	n := 0
	for _, p := range ni.Pods {
		if p.Pod.Namespace == ns && !p.Terminating() && sel.Matches(labels.Set(p.Pod.Labels)) {
			n++
		}
	}
	return n
}
