// Package plugins holds the filter and score plugins of the default profile, each with the
// semantics of the kube-scheduler plugin of the same name: NodeUnschedulable, NodeName,
// TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit (least allocated),
// NodeResourcesBalancedAllocation, PodTopologySpread (with the system default spreading
// by owner over hostname and zone) and InterPodAffinity. Plugins are pure functions of a
// framework.Snapshot and a framework.PodInfo.
package plugins
