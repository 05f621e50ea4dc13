package framework

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoNodesAvailable is the failure when the cluster has no schedulable node at all
// (Kubernetes reports it with these words).
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Status is why a filter rejected a node; nil means the node passed.
type Status struct {
	Reasons []string
	// Unresolvable: removing pods from the node cannot undo the rejection (a node-level
	// rule such as a taint or a selector), so preemption does not try the node.
	Unresolvable bool
}

// NewStatus returns a rejection with reasons.
func NewStatus(reasons ...string) *Status { return &Status{Reasons: reasons} }

// NewUnresolvableStatus returns a rejection that no preemption can undo.
func NewUnresolvableStatus(reasons ...string) *Status {
	return &Status{Reasons: reasons, Unresolvable: true}
}

// Event is a kind of cluster change that may make an unschedulable pod schedulable. Each
// filter declares the events that can undo its rejections; the queue moves a pod back only
// on those.
type Event uint32

const (
	EventNodeAdd Event = 1 << iota
	EventNodeAllocatable
	EventNodeLabel
	EventNodeTaint
	EventNodeSchedulable
	EventPodAdd
	EventPodDelete
	EventPodLabel
	EventPodScaleDown
	// EventAll is every event (periodic flush; failures that are not a plugin's verdict).
	EventAll Event = 1<<iota - 1
)

// FitError says why no node fits a pod.
type FitError struct {
	NumAllNodes int
	// Reasons counts nodes per rejection reason.
	Reasons map[string]int
	// PreFilterMsg is set when a pre-filter rejected the pod before looking at nodes.
	PreFilterMsg string
	// RequeueOn is the union of the events that could help (from the rejecting plugins).
	RequeueOn Event
	// PostFilterMsg is why preemption did not help, appended as Kubernetes does:
	// "0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many pods. preemption:
	// 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption
	// victims found for incoming pod."
	PostFilterMsg string
}

// Error formats the message exactly as kube-scheduler does:
// "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."
// — counts per reason, the "<count> <reason>" strings sorted.
func (f *FitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		fmt.Fprintf(&b, " %s.", f.PreFilterMsg)
		return b.String()
	}
	reasons := make([]string, 0, len(f.Reasons))
	for reason, n := range f.Reasons {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		fmt.Fprintf(&b, " %s.", strings.Join(reasons, ", "))
	}
	if f.PostFilterMsg != "" {
		b.WriteString(" " + f.PostFilterMsg)
		if !strings.HasSuffix(f.PostFilterMsg, ".") {
			b.WriteString(".")
		}
	}
	return b.String()
}
