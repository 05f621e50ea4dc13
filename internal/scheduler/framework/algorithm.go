package framework

import "strings"

// MaxNodeScore is the highest score a score plugin gives after normalization.
const MaxNodeScore int64 = 100

// Plugin is named like its kube-scheduler counterpart.
type Plugin interface {
	Name() string
}

// FilterPlugin rejects nodes a pod cannot run on.
type FilterPlugin interface {
	Plugin
	// PreFilter computes per-pod state once per cycle. skip leaves Filter out for this
	// pod; a non-nil status rejects the pod before any node is looked at.
	PreFilter(snap *Snapshot, pod *PodInfo) (state any, skip bool, status *Status)
	// Filter returns nil when pod may run on node.
	Filter(state any, pod *PodInfo, node *NodeInfo) *Status
	// RequeueOn is the set of events that may undo a rejection by this plugin.
	RequeueOn() Event
}

// ScorePlugin ranks feasible nodes.
type ScorePlugin interface {
	Plugin
	// PreScore computes per-pod state over the feasible nodes; skip gives every node 0.
	PreScore(snap *Snapshot, pod *PodInfo, feasible []*NodeInfo) (state any, skip bool)
	// Score is the raw score of one node.
	Score(state any, pod *PodInfo, node *NodeInfo) int64
	// Normalize maps the raw scores (in feasible order) to 0..MaxNodeScore in place.
	Normalize(state any, pod *PodInfo, scores []int64)
}

// WeightedScore is a score plugin with its weight in the sum.
type WeightedScore struct {
	Plugin ScorePlugin
	Weight int64
}

// Profile is a set of plugins.
type Profile struct {
	Filters []FilterPlugin
	Scores  []WeightedScore
	// PercentageOfNodesToScore bounds how many feasible nodes are looked for; 0 is
	// kube-scheduler's adaptive default (50% minus 1% per 125 nodes, at least 5%, at least
	// 100 nodes).
	PercentageOfNodesToScore int32
}

// Result is a scheduling decision.
type Result struct {
	NodeName string
	// EvaluatedNodes were filtered; FeasibleNodes passed.
	EvaluatedNodes, FeasibleNodes int
}

// Algorithm runs a profile. It keeps buffers and the rotating start index between cycles,
// so it is used by one goroutine at a time; its decisions depend only on its inputs and
// its previous decisions.
type Algorithm struct {
	profile      Profile
	nextStart    int
	filterStates []any
	skipFilter   []bool
	feasible     []*NodeInfo
	failures     []failure
	raw, total   []int64
}

type failure struct {
	status *Status
	plugin int
}

// NewAlgorithm returns an algorithm running profile.
func NewAlgorithm(profile Profile) *Algorithm {
	return &Algorithm{
		profile:      profile,
		filterStates: make([]any, len(profile.Filters)),
		skipFilter:   make([]bool, len(profile.Filters)),
	}
}

// Schedule picks a node for pod, or returns a *FitError (or ErrNoNodesAvailable).
func (a *Algorithm) Schedule(snap *Snapshot, pod *PodInfo) (Result, error) {
	nodes := snap.List()
	n := len(nodes)
	if n == 0 {
		return Result{}, ErrNoNodesAvailable
	}
	if pod.ParseErr != nil {
		return Result{}, &FitError{NumAllNodes: n, PreFilterMsg: pod.ParseErr.Error()}
	}
	for i, f := range a.profile.Filters {
		state, skip, st := f.PreFilter(snap, pod)
		if st != nil {
			return Result{}, &FitError{NumAllNodes: n, PreFilterMsg: joinReasons(st.Reasons), RequeueOn: f.RequeueOn()}
		}
		a.filterStates[i], a.skipFilter[i] = state, skip
	}
	defer clear(a.filterStates)

	want := numFeasibleNodesToFind(n, a.profile.PercentageOfNodesToScore)
	a.feasible, a.failures = a.feasible[:0], a.failures[:0]
	processed := 0
	for ; processed < n && len(a.feasible) < want; processed++ {
		ni := nodes[(a.nextStart+processed)%n]
		if st, plugin := a.filter(snap, pod, ni); st != nil {
			a.failures = append(a.failures, failure{st, plugin})
			continue
		}
		a.feasible = append(a.feasible, ni)
	}
	a.nextStart = (a.nextStart + processed) % n
	res := Result{EvaluatedNodes: processed, FeasibleNodes: len(a.feasible)}
	switch len(a.feasible) {
	case 0:
		return res, a.fitError(n)
	case 1:
		res.NodeName = a.feasible[0].Node.Name
		return res, nil
	}
	res.NodeName = a.score(snap, pod)
	return res, nil
}

// filter runs the filters on ni; when pods of at least pod's priority are nominated to
// the node (waiting for the pods they preempted to leave), the pod must also fit beside
// them, as kube-scheduler's RunFilterPluginsWithNominatedPods requires.
func (a *Algorithm) filter(snap *Snapshot, pod *PodInfo, ni *NodeInfo) (*Status, int) {
	st, plugin := a.runFilters(pod, ni)
	if st != nil || len(snap.nominated) == 0 {
		return st, plugin
	}
	var with *NodeInfo
	prio := Priority(pod.Pod)
	for _, p := range snap.nominated[ni.Node.Name] {
		if p.Pod.UID == pod.Pod.UID || Priority(p.Pod) < prio {
			continue
		}
		if with == nil {
			with = ni.clone()
		}
		with.addPod(p)
	}
	if with == nil {
		return nil, -1
	}
	return a.runFilters(pod, with)
}

func (a *Algorithm) runFilters(pod *PodInfo, ni *NodeInfo) (*Status, int) {
	for i, f := range a.profile.Filters {
		if a.skipFilter[i] {
			continue
		}
		if st := f.Filter(a.filterStates[i], pod, ni); st != nil {
			return st, i
		}
	}
	return nil, -1
}

func (a *Algorithm) fitError(numNodes int) *FitError {
	fe := &FitError{NumAllNodes: numNodes, Reasons: map[string]int{}}
	for _, f := range a.failures {
		for _, r := range f.status.Reasons {
			fe.Reasons[r]++
		}
		fe.RequeueOn |= a.profile.Filters[f.plugin].RequeueOn()
	}
	return fe
}

// score sums the weighted normalized scores and returns the best node; ties go to the
// node whose name hashes highest with the pod's uid — deterministic, yet different pods
// break the same tie differently.
func (a *Algorithm) score(snap *Snapshot, pod *PodInfo) string {
	k := len(a.feasible)
	a.total = resize(a.total, k)
	a.raw = resize(a.raw, k)
	clear(a.total)
	for _, ws := range a.profile.Scores {
		state, skip := ws.Plugin.PreScore(snap, pod, a.feasible)
		if skip {
			continue
		}
		for j, ni := range a.feasible {
			a.raw[j] = ws.Plugin.Score(state, pod, ni)
		}
		ws.Plugin.Normalize(state, pod, a.raw)
		for j := range a.raw {
			a.total[j] += ws.Weight * a.raw[j]
		}
	}
	best, bestHash := -1, uint64(0)
	podHash := fnv1a(string(pod.Pod.UID))
	for j, ni := range a.feasible {
		switch {
		case best < 0 || a.total[j] > a.total[best]:
			best, bestHash = j, 0
		case a.total[j] == a.total[best]:
			if bestHash == 0 {
				bestHash = tieHash(podHash, a.feasible[best])
			}
			if h := tieHash(podHash, ni); h > bestHash {
				best, bestHash = j, h
			}
		}
	}
	return a.feasible[best].Node.Name
}

// tieHash orders tied nodes for a pod: the pod's uid hash mixed with the node's name
// hash (kept in its NodeInfo, so a tie reads no Node object) by a murmur3 finalizer —
// deterministic, yet different pods break the same tie differently. Never 0, which
// means "not computed".
func tieHash(podHash uint64, ni *NodeInfo) uint64 {
	h := podHash ^ ni.nameHash
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h | 1
}

// fnv1a is the 64-bit FNV-1a hash of s.
func fnv1a(s string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * prime
	}
	return h
}

func resize(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	return s[:n]
}

// numFeasibleNodesToFind is kube-scheduler's sampling rule.
func numFeasibleNodesToFind(numAllNodes int, percentage int32) int {
	const minFeasibleNodesToFind, minFeasibleNodesPercentageToFind = 100, 5
	if numAllNodes < minFeasibleNodesToFind || percentage >= 100 {
		return numAllNodes
	}
	adaptive := int(percentage)
	if adaptive <= 0 {
		adaptive = 50 - numAllNodes/125
		if adaptive < minFeasibleNodesPercentageToFind {
			adaptive = minFeasibleNodesPercentageToFind
		}
	}
	num := numAllNodes * adaptive / 100
	if num < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return num
}

func joinReasons(reasons []string) string {
	return strings.Join(reasons, ", ")
}
