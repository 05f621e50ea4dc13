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

// PodCounter is implemented by filters whose PreFilter state counts pods across nodes
// (inter-pod affinity, topology spread) — kube-scheduler's PreFilterExtensions. A copy of
// a node with pods added (those nominated to it) or removed (preemption victims) changes
// what such a filter says only once its state counts the change too.
type PodCounter interface {
	// CloneState returns a copy of a PreFilter state that UpdateState may change.
	CloneState(state any) any
	// UpdateState counts other as placed on (delta 1) or gone from (delta -1) node, as
	// PreFilter counted the pods already there, for the pod being scheduled.
	UpdateState(snap *Snapshot, state any, pod, other *PodInfo, node *NodeInfo, delta int)
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
	counting     []counter // the filters that count pods
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
	a := &Algorithm{
		profile:      profile,
		filterStates: make([]any, len(profile.Filters)),
		skipFilter:   make([]bool, len(profile.Filters)),
	}
	for i, f := range profile.Filters {
		if pc, ok := f.(PodCounter); ok {
			a.counting = append(a.counting, counter{i, pc})
		}
	}
	return a
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
	return a.filterView(snap, pod, &view{node: ni})
}

// filterView is filter on a node as a view changed it.
func (a *Algorithm) filterView(snap *Snapshot, pod *PodInfo, v *view) (*Status, int) {
	st, plugin := a.runFilters(pod, v)
	if st != nil || len(snap.nominated) == 0 {
		return st, plugin
	}
	var with *view
	prio := Priority(pod.Pod)
	for _, p := range snap.nominated[v.node.Node.Name] {
		if p.Pod.UID == pod.Pod.UID || Priority(p.Pod) < prio {
			continue
		}
		if with == nil {
			with = a.newView(v)
		}
		a.addTo(snap, with, pod, p, false)
	}
	if with == nil {
		return nil, -1
	}
	return a.runFilters(pod, with)
}

func (a *Algorithm) runFilters(pod *PodInfo, v *view) (*Status, int) {
	for i, f := range a.profile.Filters {
		state := a.filterStates[i]
		if v.states != nil && v.states[i] != nil {
			// A counting filter skipped for having nothing to count runs once the view
			// may have given it something (a nominated pod's anti-affinity).
			state = v.states[i]
		} else if a.skipFilter[i] {
			continue
		}
		if st := f.Filter(state, pod, v.node); st != nil {
			return st, i
		}
	}
	return nil, -1
}

// counter is a filter that counts pods, with its index in the profile.
type counter struct {
	i int
	PodCounter
}

// view is a node as the filters see it: the node itself, or a copy with pods added or
// removed together with copies of the counting filters' states (nil entries: the
// cycle's own).
type view struct {
	node   *NodeInfo
	states []any
}

// newView copies v to be changed by addTo and removeFrom.
func (a *Algorithm) newView(v *view) *view {
	c := &view{node: v.node.clone()}
	for _, pc := range a.counting {
		switch i := pc.i; {
		case v.states != nil && v.states[i] != nil:
			a.setState(c, i, pc.CloneState(v.states[i]))
		case !a.skipFilter[i] && a.filterStates[i] != nil:
			a.setState(c, i, pc.CloneState(a.filterStates[i]))
		}
	}
	return c
}

func (a *Algorithm) setState(v *view, i int, state any) {
	if v.states == nil {
		v.states = make([]any, len(a.profile.Filters))
	}
	v.states[i] = state
}

// addTo places other on the view's node, for the pod being scheduled: a pod the cycle's
// states did not count (nominated), or, with back, one removeFrom took off.
func (a *Algorithm) addTo(snap *Snapshot, v *view, pod, other *PodInfo, back bool) {
	v.node.addPod(other)
	if v.states != nil || !back {
		a.count(snap, v, pod, other, 1, !back)
	}
}

// removeFrom takes other off the view's node, for the pod being scheduled.
func (a *Algorithm) removeFrom(snap *Snapshot, v *view, pod, other *PodInfo) {
	v.node.removePod(other.Pod.UID)
	if v.states != nil {
		a.count(snap, v, pod, other, -1, false)
	}
}

// count updates the view's counting states; wake also counts for the filters skipped for
// having nothing to count, which a pod new to the node (its anti-affinity against pod)
// may give something. Removing pods, or giving back removed ones, cannot.
func (a *Algorithm) count(snap *Snapshot, v *view, pod, other *PodInfo, delta int, wake bool) {
	for _, pc := range a.counting {
		var state any
		if v.states != nil {
			state = v.states[pc.i]
		}
		if state == nil {
			if !wake || a.filterStates[pc.i] == nil {
				continue
			}
			state = pc.CloneState(a.filterStates[pc.i])
			a.setState(v, pc.i, state)
		}
		pc.UpdateState(snap, state, pod, other, v.node, delta)
	}
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
