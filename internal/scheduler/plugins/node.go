package plugins

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/berth/berth/internal/scheduler/framework"
)

// Rejection reasons, worded as kube-scheduler words them (they end up in pod conditions
// and events that users and tools match on).
const (
	ReasonUnschedulable       = "node(s) were unschedulable"
	ReasonNodeName            = "node(s) didn't match the requested node name"
	ReasonUntoleratedTaint    = "node(s) had untolerated taint(s)"
	ReasonNodeAffinity        = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts           = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods         = "Too many pods"
	ReasonSpreadConstraints   = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel  = ReasonSpreadConstraints + " (missing required label)"
	ReasonExistingAntiAffinty = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonAffinity            = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinity        = "node(s) didn't match pod anti-affinity rules"
)

// Shared rejections: plugins return these without allocating.
var (
	statusUnschedulable    = framework.NewUnresolvableStatus(ReasonUnschedulable)
	statusNodeName         = framework.NewUnresolvableStatus(ReasonNodeName)
	statusUntolerated      = framework.NewUnresolvableStatus(ReasonUntoleratedTaint)
	statusNodeAffinity     = framework.NewUnresolvableStatus(ReasonNodeAffinity)
	statusNodePorts        = framework.NewStatus(ReasonNodePorts)
	statusSpread           = framework.NewStatus(ReasonSpreadConstraints)
	statusSpreadLabel      = framework.NewUnresolvableStatus(ReasonSpreadMissingLabel)
	statusExistingAnti     = framework.NewStatus(ReasonExistingAntiAffinty)
	statusAffinity         = framework.NewUnresolvableStatus(ReasonAffinity)
	statusAntiAffinity     = framework.NewStatus(ReasonAntiAffinity)
	unschedulableNodeTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
)

// noPreFilter is embedded by filters without per-cycle state.
type noPreFilter struct{}

func (noPreFilter) PreFilter(*framework.Snapshot, *framework.PodInfo) (any, bool, *framework.Status) {
	return nil, false, nil
}

// NodeUnschedulable rejects cordoned nodes (spec.unschedulable) unless the pod tolerates
// the node.kubernetes.io/unschedulable:NoSchedule taint.
type NodeUnschedulable struct{ noPreFilter }

func (NodeUnschedulable) Name() string { return "NodeUnschedulable" }

func (NodeUnschedulable) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if !node.Unschedulable || framework.Tolerates(pod.Pod.Spec.Tolerations, &unschedulableNodeTaint) {
		return nil
	}
	return statusUnschedulable
}

func (NodeUnschedulable) RequeueOn() framework.Event {
	return framework.EventNodeAdd | framework.EventNodeSchedulable
}

// NodeName rejects every node but the one named in spec.nodeName, when set.
type NodeName struct{ noPreFilter }

func (NodeName) Name() string { return "NodeName" }

func (NodeName) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if pod.Pod.Spec.NodeName == "" || pod.Pod.Spec.NodeName == node.Node.Name {
		return nil
	}
	return statusNodeName
}

func (NodeName) RequeueOn() framework.Event { return framework.EventNodeAdd }

// TaintToleration rejects nodes with a NoSchedule or NoExecute taint the pod does not
// tolerate, and scores nodes by how few PreferNoSchedule taints the pod does not tolerate.
type TaintToleration struct{ noPreFilter }

func (TaintToleration) Name() string { return "TaintToleration" }

func (TaintToleration) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	taints := node.Taints
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !framework.Tolerates(pod.Pod.Spec.Tolerations, t) {
			return statusUntolerated
		}
	}
	return nil
}

func (TaintToleration) RequeueOn() framework.Event {
	return framework.EventNodeAdd | framework.EventNodeTaint
}

func (TaintToleration) PreScore(_ *framework.Snapshot, pod *framework.PodInfo, _ []*framework.NodeInfo) (any, bool) {
	var prefer []corev1.Toleration
	for _, t := range pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			prefer = append(prefer, t)
		}
	}
	return prefer, false
}

func (TaintToleration) Score(state any, _ *framework.PodInfo, node *framework.NodeInfo) int64 {
	tolerations, _ := state.([]corev1.Toleration)
	var n int64
	taints := node.Taints
	for i := range taints {
		if taints[i].Effect == corev1.TaintEffectPreferNoSchedule && !framework.Tolerates(tolerations, &taints[i]) {
			n++
		}
	}
	return n
}

func (TaintToleration) Normalize(_ any, _ *framework.PodInfo, scores []int64) {
	defaultNormalize(scores, true)
}

// NodeAffinity rejects nodes that do not match the pod's nodeSelector and required node
// affinity, and scores nodes by the weights of the preferred terms they match.
type NodeAffinity struct{ noPreFilter }

func (NodeAffinity) Name() string { return "NodeAffinity" }

func (NodeAffinity) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if pod.RequiredNodeAffinity.Match(node.Node) {
		return nil
	}
	return statusNodeAffinity
}

func (NodeAffinity) RequeueOn() framework.Event {
	return framework.EventNodeAdd | framework.EventNodeLabel
}

func (NodeAffinity) PreScore(_ *framework.Snapshot, pod *framework.PodInfo, _ []*framework.NodeInfo) (any, bool) {
	return nil, len(pod.PreferredNodeAffinity) == 0
}

func (NodeAffinity) Score(_ any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	var sum int64
	for i := range pod.PreferredNodeAffinity {
		if pod.PreferredNodeAffinity[i].Matches(node.Node) {
			sum += int64(pod.PreferredNodeAffinity[i].Weight)
		}
	}
	return sum
}

func (NodeAffinity) Normalize(_ any, _ *framework.PodInfo, scores []int64) {
	defaultNormalize(scores, false)
}

// NodePorts rejects nodes where a host port the pod wants is taken.
type NodePorts struct{ noPreFilter }

func (NodePorts) Name() string { return "NodePorts" }

func (NodePorts) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if len(pod.HostPorts) == 0 || !node.PortConflict(pod.HostPorts) {
		return nil
	}
	return statusNodePorts
}

func (NodePorts) RequeueOn() framework.Event {
	return framework.EventNodeAdd | framework.EventPodDelete
}

// defaultNormalize scales scores to 0..MaxNodeScore by the highest one; reverse flips
// them (fewer is better). All zero gives all 0, or all MaxNodeScore when reversed.
func defaultNormalize(scores []int64, reverse bool) {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s)
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i] = framework.MaxNodeScore
			}
		}
		return
	}
	for i, s := range scores {
		s = framework.MaxNodeScore * s / highest
		if reverse {
			s = framework.MaxNodeScore - s
		}
		scores[i] = s
	}
}
