package plugins

import "github.com/berth/berth/internal/scheduler/framework"

// DefaultProfile is kube-scheduler's default plugin set and weights (less the volume and
// image plugins berth has no use for): filters in upstream order, so the reason a node
// reports is the one Kubernetes would report.
func DefaultProfile() framework.Profile {
	return framework.Profile{
		Filters: []framework.FilterPlugin{
			NodeUnschedulable{}, NodeName{}, TaintToleration{}, NodeAffinity{}, NodePorts{},
			NodeResourcesFit{}, PodTopologySpread{}, InterPodAffinity{},
		},
		Scores: []framework.WeightedScore{
			{Plugin: TaintToleration{}, Weight: 3},
			{Plugin: NodeAffinity{}, Weight: 2},
			{Plugin: PodTopologySpread{}, Weight: 2},
			{Plugin: InterPodAffinity{}, Weight: 2},
			{Plugin: NodeResourcesFit{}, Weight: 1},
			{Plugin: BalancedAllocation{}, Weight: 1},
		},
	}
}
