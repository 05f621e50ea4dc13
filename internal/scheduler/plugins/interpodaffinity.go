package plugins

import (
	"maps"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth/berth/internal/scheduler/framework"
)

// HardPodAffinityWeight is the score an existing pod's required affinity term adds to the
// domains where an incoming pod it selects would land (kube-scheduler's default 1).
const HardPodAffinityWeight = 1

// InterPodAffinity enforces required pod affinity and anti-affinity — of the pod, and the
// anti-affinity of pods already placed — and scores the preferred terms.
type InterPodAffinity struct{}

func (InterPodAffinity) Name() string { return "InterPodAffinity" }

type topologyPair struct{ key, value string }

type affinityFilterState struct {
	// existingAnti counts, per domain, placed pods whose required anti-affinity selects the
	// incoming pod; affinity counts placed pods matching all of the pod's required affinity
	// terms; anti counts placed pods matching each of its anti-affinity terms.
	existingAnti map[topologyPair]int
	affinity     map[topologyPair]int
	anti         map[topologyPair]int
	podNSLabels  map[string]string
}

func (InterPodAffinity) PreFilter(snap *framework.Snapshot, pod *framework.PodInfo) (any, bool, *framework.Status) {
	nodes := snap.List()
	podNSLabels := snap.NamespaceLabels(pod.Pod.Namespace)
	st := &affinityFilterState{podNSLabels: podNSLabels}
	for _, ni := range nodes {
		if !snap.HasPodsWithRequiredAntiAffinity() {
			break
		}
		for _, existing := range ni.PodsWithRequiredAntiAffinity {
			for i := range existing.RequiredAntiAffinityTerms {
				t := &existing.RequiredAntiAffinityTerms[i]
				if v, ok := ni.Node.Labels[t.TopologyKey]; ok && t.Matches(pod.Pod, podNSLabels) {
					st.existingAnti = addCount(st.existingAnti, topologyPair{t.TopologyKey, v}, 1)
				}
			}
		}
	}
	if len(pod.RequiredAffinityTerms) > 0 || len(pod.RequiredAntiAffinityTerms) > 0 {
		for _, ni := range nodes {
			for _, existing := range ni.Pods {
				nsLabels := snap.NamespaceLabels(existing.Pod.Namespace)
				if len(pod.RequiredAffinityTerms) > 0 && matchesAll(pod.RequiredAffinityTerms, existing.Pod, nsLabels) {
					for i := range pod.RequiredAffinityTerms {
						if v, ok := ni.Node.Labels[pod.RequiredAffinityTerms[i].TopologyKey]; ok {
							st.affinity = addCount(st.affinity, topologyPair{pod.RequiredAffinityTerms[i].TopologyKey, v}, 1)
						}
					}
				}
				for i := range pod.RequiredAntiAffinityTerms {
					t := &pod.RequiredAntiAffinityTerms[i]
					if v, ok := ni.Node.Labels[t.TopologyKey]; ok && t.Matches(existing.Pod, nsLabels) {
						st.anti = addCount(st.anti, topologyPair{t.TopologyKey, v}, 1)
					}
				}
			}
		}
	}
	skip := len(st.existingAnti) == 0 && len(pod.RequiredAffinityTerms) == 0 && len(pod.RequiredAntiAffinityTerms) == 0
	return st, skip, nil
}

func (InterPodAffinity) Filter(state any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	st := state.(*affinityFilterState)
	labels := node.Node.Labels
	// Kubernetes' order — the pod's affinity, its anti-affinity, then the existing pods'
	// anti-affinity — decides the reason a node reports when several rules fail there
	// (the pods of a Deployment with anti-affinity to each other fail the last two).
	if !satisfiesAffinity(st, pod, node.Node) {
		return statusAffinity
	}
	for i := range pod.RequiredAntiAffinityTerms {
		t := &pod.RequiredAntiAffinityTerms[i]
		if v, ok := labels[t.TopologyKey]; ok && st.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return statusAntiAffinity
		}
	}
	if len(st.existingAnti) > 0 {
		for k, v := range labels {
			if st.existingAnti[topologyPair{k, v}] > 0 {
				return statusExistingAnti
			}
		}
	}
	return nil
}

// satisfiesAffinity: the node has every term's topology key and a matching pod in each
// domain — or no pod anywhere matches and the pod matches its own terms (the first pod of
// a group that wants to be together must be placeable).
func satisfiesAffinity(st *affinityFilterState, pod *framework.PodInfo, node *corev1.Node) bool {
	if len(pod.RequiredAffinityTerms) == 0 {
		return true
	}
	podsExist := true
	for i := range pod.RequiredAffinityTerms {
		t := &pod.RequiredAffinityTerms[i]
		v, ok := node.Labels[t.TopologyKey]
		if !ok {
			return false
		}
		if st.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			podsExist = false
		}
	}
	if podsExist {
		return true
	}
	return len(st.affinity) == 0 && matchesAll(pod.RequiredAffinityTerms, pod.Pod, st.podNSLabels)
}

func matchesAll(terms []framework.AffinityTerm, pod *corev1.Pod, nsLabels map[string]string) bool {
	for i := range terms {
		if !terms[i].Matches(pod, nsLabels) {
			return false
		}
	}
	return true
}

// addCount adds delta to m[p], dropping domains that reach zero: an empty map says no
// pod matches anywhere.
func addCount(m map[topologyPair]int, p topologyPair, delta int) map[topologyPair]int {
	if m == nil {
		m = map[topologyPair]int{}
	}
	if m[p] += delta; m[p] <= 0 {
		delete(m, p)
	}
	return m
}

func (InterPodAffinity) CloneState(state any) any {
	st := state.(*affinityFilterState)
	return &affinityFilterState{
		existingAnti: maps.Clone(st.existingAnti),
		affinity:     maps.Clone(st.affinity),
		anti:         maps.Clone(st.anti),
		podNSLabels:  st.podNSLabels,
	}
}

// UpdateState counts other on node as PreFilter counts the pods already placed: its
// anti-affinity against the pod, and its matching the pod's affinity and anti-affinity.
func (InterPodAffinity) UpdateState(snap *framework.Snapshot, state any, pod, other *framework.PodInfo, node *framework.NodeInfo, delta int) {
	st := state.(*affinityFilterState)
	labels := node.Node.Labels
	for i := range other.RequiredAntiAffinityTerms {
		t := &other.RequiredAntiAffinityTerms[i]
		if v, ok := labels[t.TopologyKey]; ok && t.Matches(pod.Pod, st.podNSLabels) {
			st.existingAnti = addCount(st.existingAnti, topologyPair{t.TopologyKey, v}, delta)
		}
	}
	if len(pod.RequiredAffinityTerms) == 0 && len(pod.RequiredAntiAffinityTerms) == 0 {
		return
	}
	nsLabels := snap.NamespaceLabels(other.Pod.Namespace)
	if len(pod.RequiredAffinityTerms) > 0 && matchesAll(pod.RequiredAffinityTerms, other.Pod, nsLabels) {
		for i := range pod.RequiredAffinityTerms {
			if v, ok := labels[pod.RequiredAffinityTerms[i].TopologyKey]; ok {
				st.affinity = addCount(st.affinity, topologyPair{pod.RequiredAffinityTerms[i].TopologyKey, v}, delta)
			}
		}
	}
	for i := range pod.RequiredAntiAffinityTerms {
		t := &pod.RequiredAntiAffinityTerms[i]
		if v, ok := labels[t.TopologyKey]; ok && t.Matches(other.Pod, nsLabels) {
			st.anti = addCount(st.anti, topologyPair{t.TopologyKey, v}, delta)
		}
	}
}

func (InterPodAffinity) RequeueOn() framework.Event {
	return framework.EventNodeAdd | framework.EventNodeLabel | framework.EventPodAdd |
		framework.EventPodDelete | framework.EventPodLabel
}

// affinityScoreState sums term weights per topology domain.
type affinityScoreState map[string]map[string]int64

func (s affinityScoreState) add(key, value string, w int64) {
	m := s[key]
	if m == nil {
		m = map[string]int64{}
		s[key] = m
	}
	m[value] += w
}

// PreScore adds, per domain: the weights of the pod's preferred affinity terms matched by
// pods there (anti-affinity subtracts), and the weights of placed pods' preferred (and,
// with HardPodAffinityWeight, required) affinity terms that select the pod (their
// preferred anti-affinity subtracts).
func (InterPodAffinity) PreScore(snap *framework.Snapshot, pod *framework.PodInfo, _ []*framework.NodeInfo) (any, bool) {
	own := len(pod.PreferredAffinityTerms) > 0 || len(pod.PreferredAntiAffinityTerms) > 0
	if !own && !snap.HasPodsWithAffinity() {
		return nil, true
	}
	st := affinityScoreState{}
	podNSLabels := snap.NamespaceLabels(pod.Pod.Namespace)
	for _, ni := range snap.List() {
		pods := ni.PodsWithAffinity
		if own {
			pods = ni.Pods
		}
		if len(ni.Node.Labels) == 0 {
			continue
		}
		for _, existing := range pods {
			nsLabels := snap.NamespaceLabels(existing.Pod.Namespace)
			addWeighted(st, pod.PreferredAffinityTerms, existing.Pod, nsLabels, ni.Node, 1)
			addWeighted(st, pod.PreferredAntiAffinityTerms, existing.Pod, nsLabels, ni.Node, -1)
			for i := range existing.RequiredAffinityTerms {
				t := &existing.RequiredAffinityTerms[i]
				if v, ok := ni.Node.Labels[t.TopologyKey]; ok && HardPodAffinityWeight > 0 && t.Matches(pod.Pod, podNSLabels) {
					st.add(t.TopologyKey, v, HardPodAffinityWeight)
				}
			}
			addWeighted(st, existing.PreferredAffinityTerms, pod.Pod, podNSLabels, ni.Node, 1)
			addWeighted(st, existing.PreferredAntiAffinityTerms, pod.Pod, podNSLabels, ni.Node, -1)
		}
	}
	return st, len(st) == 0
}

func addWeighted(st affinityScoreState, terms []framework.WeightedAffinityTerm, pod *corev1.Pod, nsLabels map[string]string, node *corev1.Node, sign int64) {
	for i := range terms {
		t := &terms[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && t.Matches(pod, nsLabels) {
			st.add(t.TopologyKey, v, sign*int64(t.Weight))
		}
	}
}

func (InterPodAffinity) Score(state any, _ *framework.PodInfo, node *framework.NodeInfo) int64 {
	var score int64
	for key, values := range state.(affinityScoreState) {
		if v, ok := node.Node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score
}

// Normalize maps [min(0, lowest), max(0, highest)] to [0, 100].
func (InterPodAffinity) Normalize(_ any, _ *framework.PodInfo, scores []int64) {
	var lowest, highest int64
	for _, s := range scores {
		lowest, highest = min(lowest, s), max(highest, s)
	}
	diff := highest - lowest
	for i, s := range scores {
		if diff > 0 {
			scores[i] = int64(float64(framework.MaxNodeScore) * float64(s-lowest) / float64(diff))
		} else {
			scores[i] = 0
		}
	}
}
