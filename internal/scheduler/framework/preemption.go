package framework

import (
	"fmt"
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Kubernetes' words for nodes where preemption cannot help.
const (
	ReasonPreemptionNotHelpful = "Preemption is not helpful for scheduling"
	ReasonNoVictims            = "No preemption victims found for incoming pod"
)

// Priority is a pod's spec.priority (0 when unset, as before priority admission).
func Priority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// Preemption is a node where the pod fits once Victims, pods of lower priority, are gone.
type Preemption struct {
	Node    string
	Victims []*PodInfo
	// Violations is how many victims go against their PodDisruptionBudget.
	Violations int
}

// DisruptionBudget is what preemption reads of a PodDisruptionBudget: it respects budgets
// where it can, but a pod of higher priority may still break one.
type DisruptionBudget struct {
	Namespace string
	Selector  labels.Selector
	// Allowed is status.disruptionsAllowed; Disrupted the pods already counted against it
	// (status.disruptedPods).
	Allowed   int32
	Disrupted map[string]metav1.Time
}

// Nominate reserves node for pod, which waits there for preempted pods to leave: filters
// count it on the node for pods of no higher priority, so they do not take its place.
// An empty node forgets the nomination.
func (s *Snapshot) Nominate(pi *PodInfo, node string) {
	s.Unnominate(pi.Pod.UID)
	if node == "" {
		return
	}
	s.nominated[node] = append(s.nominated[node], pi)
	s.nominatedOn[pi.Pod.UID] = node
}

// Unnominate forgets pod uid's nomination.
func (s *Snapshot) Unnominate(uid types.UID) {
	if old, ok := s.nominatedOn[uid]; ok {
		s.nominated[old] = slices.DeleteFunc(s.nominated[old], func(p *PodInfo) bool { return p.Pod.UID == uid })
		if len(s.nominated[old]) == 0 {
			delete(s.nominated, old)
		}
		delete(s.nominatedOn, uid)
	}
}

// NominatedPods returns the pods nominated to node (the slice belongs to the snapshot).
func (s *Snapshot) NominatedPods(node string) []*PodInfo { return s.nominated[node] }

// NominatedNode is the node pod uid is nominated to ("" when none).
func (s *Snapshot) NominatedNode(uid types.UID) string { return s.nominatedOn[uid] }

// Preempt is kube-scheduler's DefaultPreemption for a pod that fits nowhere: on every node
// whose rejection removing pods can undo, it removes the pods of lower priority, keeps the
// node if the pod then fits, and gives back (those protected by a disruption budget
// first, then most important first) every pod it can do without. Like Kubernetes, it
// stops once a tenth of the nodes (at least 100) offered victims, and of those picks the
// node breaking the fewest budgets, then the one whose most important victim is least
// important, then the smallest sum of victim priorities, then the fewest victims, then
// the one whose most important victims started last. Without a candidate it returns the
// per-node verdict, formatted as Kubernetes does ("0/3 nodes are available: 3 No
// preemption victims found for incoming pod.").
//
// The dry run removes victims from a copy of the node and from the counts of the filters
// that count pods across nodes, so a pod kept out by the anti-affinity, affinity or
// spreading of lower-priority pods can preempt them, as in Kubernetes.
func (a *Algorithm) Preempt(snap *Snapshot, pod *PodInfo, budgets []DisruptionBudget) (Preemption, *FitError) {
	nodes := snap.List()
	fe := &FitError{NumAllNodes: len(nodes), Reasons: map[string]int{}}
	for i, f := range a.profile.Filters {
		state, skip, st := f.PreFilter(snap, pod)
		if st != nil {
			fe.PreFilterMsg = joinReasons(st.Reasons)
			return Preemption{}, fe
		}
		a.filterStates[i], a.skipFilter[i] = state, skip
	}
	defer clear(a.filterStates)

	prio := Priority(pod.Pod)
	anyLower := false
	for p := range snap.priorities {
		if p < prio {
			anyLower = true
			break
		}
	}
	// Like Kubernetes, stop after a tenth of the nodes (at least 100) have offered victims,
	// starting at a place that depends on the pod.
	want := min(len(nodes), max(len(nodes)/10, 100))
	offset := 0
	if len(nodes) > 0 {
		offset = int(fnv1a(string(pod.Pod.UID)) % uint64(len(nodes)))
	}
	var best *candidate
	found := 0
	for k := range nodes {
		ni := nodes[(offset+k)%len(nodes)]
		c, st := a.victimsOn(snap, pod, prio, anyLower, ni, budgets)
		if st != nil {
			for _, r := range st.Reasons {
				fe.Reasons[r]++
			}
			continue
		}
		if best == nil || c.better(best, pod) {
			best = c
		}
		if found++; found >= want {
			break
		}
	}
	if best == nil {
		return Preemption{}, fe
	}
	return Preemption{Node: best.node.Node.Name, Victims: best.victims, Violations: best.violations}, nil
}

var (
	statusNotHelpful = NewStatus(ReasonPreemptionNotHelpful)
	statusNoVictims  = NewStatus(ReasonNoVictims)
)

// victimsOn finds the fewest pods of lower priority than prio whose removal lets pod fit on
// ni, or says why there are none. Pods whose eviction would break a disruption budget are
// given back first, as Kubernetes does, so that victims break as few budgets as they can.
// anyLower false says no placed pod anywhere is less important (the common case of pods
// all of one priority): then nodes are only told apart for the message.
func (a *Algorithm) victimsOn(snap *Snapshot, pod *PodInfo, prio int32, anyLower bool, ni *NodeInfo, budgets []DisruptionBudget) (*candidate, *Status) {
	st, _ := a.filter(snap, pod, ni)
	if st == nil {
		// It fits already (a pod nominated here has left since): nothing to preempt, and
		// the next attempt will place it.
		return nil, statusNoVictims
	}
	if st.Unresolvable {
		return nil, statusNotHelpful
	}
	if !anyLower {
		return nil, statusNoVictims
	}
	var potential []*PodInfo
	for _, p := range ni.Pods {
		if !p.Terminating() && Priority(p.Pod) < prio {
			potential = append(potential, p)
		}
	}
	if len(potential) == 0 {
		return nil, statusNoVictims
	}
	sim := a.newView(&view{node: ni})
	for _, p := range potential {
		a.removeFrom(snap, sim, pod, p)
	}
	if st, _ := a.filterView(snap, pod, sim); st != nil {
		return nil, st
	}
	// Give back the most important pods first; those without which it no longer fits are
	// the victims.
	slices.SortStableFunc(potential, byImportance)
	violating, other := splitByBudgets(potential, budgets)
	c := &candidate{node: ni}
	reprieve := func(pods []*PodInfo, violate bool) {
		for _, p := range pods {
			a.addTo(snap, sim, pod, p, true)
			if st, _ := a.filterView(snap, pod, sim); st != nil {
				a.removeFrom(snap, sim, pod, p)
				c.victims = append(c.victims, p)
				if violate {
					c.violations++
				}
			}
		}
	}
	reprieve(violating, true)
	reprieve(other, false)
	slices.SortStableFunc(c.victims, byImportance)
	if len(c.victims) == 0 {
		return nil, statusNoVictims
	}
	return c, nil
}

type candidate struct {
	node       *NodeInfo
	victims    []*PodInfo // most important first
	violations int
}

// splitByBudgets sorts pods (most important first, which they keep) into those whose
// eviction, in this order, would take a budget below zero and the others — Kubernetes'
// filterPodsWithPDBViolation. Pods a budget already counts as disrupted cost it nothing.
func splitByBudgets(pods []*PodInfo, budgets []DisruptionBudget) (violating, other []*PodInfo) {
	if len(budgets) == 0 {
		return nil, pods
	}
	left := make([]int32, len(budgets))
	for i := range budgets {
		left[i] = budgets[i].Allowed
	}
	for _, p := range pods {
		violates := false
		for i := range budgets {
			b := &budgets[i]
			if b.Namespace != p.Pod.Namespace || !b.Selector.Matches(labels.Set(p.Pod.Labels)) {
				continue
			}
			if _, counted := b.Disrupted[p.Pod.Name]; counted {
				continue
			}
			if left[i]--; left[i] < 0 {
				violates = true
			}
		}
		if violates {
			violating = append(violating, p)
		} else {
			other = append(other, p)
		}
	}
	return violating, other
}

// better is kube-scheduler's pickOneNodeForPreemption order.
func (c *candidate) better(o *candidate, pod *PodInfo) bool {
	if c.violations != o.violations {
		return c.violations < o.violations
	}
	if a, b := Priority(c.victims[0].Pod), Priority(o.victims[0].Pod); a != b {
		return a < b
	}
	if a, b := c.prioritySum(), o.prioritySum(); a != b {
		return a < b
	}
	if len(c.victims) != len(o.victims) {
		return len(c.victims) < len(o.victims)
	}
	if a, b := c.earliestTopStart(), o.earliestTopStart(); !a.Equal(b) {
		return a.After(b)
	}
	return tieHash(fnv1a(string(pod.Pod.UID)), c.node) > tieHash(fnv1a(string(pod.Pod.UID)), o.node)
}

// prioritySum adds the victims' priorities shifted to be non-negative, as Kubernetes does.
func (c *candidate) prioritySum() int64 {
	var sum int64
	for _, v := range c.victims {
		sum += int64(Priority(v.Pod)) + int64(math.MaxInt32) + 1
	}
	return sum
}

// earliestTopStart is the earliest start time among the victims of the highest priority.
func (c *candidate) earliestTopStart() time.Time {
	top := Priority(c.victims[0].Pod)
	var earliest time.Time
	for _, v := range c.victims {
		if Priority(v.Pod) != top {
			continue
		}
		if t := startTime(v.Pod); earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	return earliest
}

// byImportance orders the most important pods first (for slices.SortStableFunc).
func byImportance(x, y *PodInfo) int {
	switch {
	case morePodImportant(x, y):
		return -1
	case morePodImportant(y, x):
		return 1
	}
	return 0
}

// morePodImportant: higher priority, then started earlier.
func morePodImportant(x, y *PodInfo) bool {
	if px, py := Priority(x.Pod), Priority(y.Pod); px != py {
		return px > py
	}
	return startTime(x.Pod).Before(startTime(y.Pod))
}

func startTime(pod *corev1.Pod) time.Time {
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return pod.CreationTimestamp.Time
}

// clone copies a node's pod accounting so that pods can be added and removed on the copy.
func (n *NodeInfo) clone() *NodeInfo {
	c := *n
	c.Pods = slices.Clone(n.Pods)
	c.PodsWithAffinity = slices.Clone(n.PodsWithAffinity)
	c.PodsWithRequiredAntiAffinity = slices.Clone(n.PodsWithRequiredAntiAffinity)
	c.UsedPorts = slices.Clone(n.UsedPorts)
	if n.ownerCounts != nil {
		c.ownerCounts = make(map[types.UID]int32, len(n.ownerCounts))
		for k, v := range n.ownerCounts {
			c.ownerCounts[k] = v
		}
	}
	return &c
}

// PreemptionMessage is what Kubernetes appends to a FitError after a failed preemption.
func PreemptionMessage(fe *FitError) string { return "preemption: " + fe.Error() }

// NotEligibleMessage is Kubernetes' message for a pod that may not preempt.
func NotEligibleMessage(reason string) string {
	return fmt.Sprintf("preemption: not eligible due to %s.", reason)
}
