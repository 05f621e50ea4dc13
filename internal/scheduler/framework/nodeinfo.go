package framework

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeInfo is a node with the pods placed on it (bound or assumed) and their sums.
type NodeInfo struct {
	// Node is nil while only pods name the node (their Node object has not arrived yet);
	// such entries are not schedulable.
	Node *corev1.Node
	Pods []*PodInfo
	// PodsWithAffinity have any pod (anti-)affinity; PodsWithRequiredAntiAffinity have
	// required anti-affinity terms — the only pods some plugins must look at.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	// Requested sums the pods' requests; NonZeroCPU/NonZeroMemory their scoring requests.
	Requested                 Resource
	NonZeroCPU, NonZeroMemory int64
	Allocatable               Resource
	UsedPorts                 []HostPort
	// Unschedulable and Taints copy the Node's spec.unschedulable and spec.taints: the
	// filters read them for every sampled node, and from here they do not pull the
	// (large, scattered) Node objects into the cache.
	Unschedulable bool
	Taints        []corev1.Taint
	// ownerCounts counts non-terminating pods per controller uid (the snapshot keeps the
	// same counts by owner, for spreading).
	ownerCounts map[types.UID]int32
	// nameHash is fnv1a of the node's name, for breaking score ties.
	nameHash uint64
	// zone caches the topology.kubernetes.io/zone label (hasZone: it is set) and zoneID
	// its number in the snapshot.
	zone    string
	zoneID  int32
	hasZone bool
}

// ZoneID returns the snapshot's number for the node's zone (below Snapshot.NumZoneIDs).
func (n *NodeInfo) ZoneID() (int32, bool) { return n.zoneID, n.hasZone }

// Name is the node's name.
func (n *NodeInfo) Name() string { return n.Node.Name }

// Labels are the node's labels.
func (n *NodeInfo) Labels() map[string]string { return n.Node.Labels }

func (n *NodeInfo) setNode(node *corev1.Node) {
	n.Node = node
	n.Unschedulable, n.Taints = node.Spec.Unschedulable, node.Spec.Taints
	n.nameHash = fnv1a(node.Name)
	n.zone, n.hasZone = node.Labels[corev1.LabelTopologyZone]
	n.Allocatable = ResourceFromList(node.Status.Allocatable)
}

func (n *NodeInfo) addPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.HasPodAffinity {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.Requested.Add(&pi.Requests)
	n.NonZeroCPU += pi.NonZeroCPU
	n.NonZeroMemory += pi.NonZeroMemory
	n.UsedPorts = append(n.UsedPorts, pi.HostPorts...)
	if pi.ControllerUID != "" && !pi.Terminating() {
		if n.ownerCounts == nil {
			n.ownerCounts = map[types.UID]int32{}
		}
		n.ownerCounts[pi.ControllerUID]++
	}
}

// removePod removes the pod with uid and returns it, or nil when it is not here.
func (n *NodeInfo) removePod(uid types.UID) *PodInfo {
	i := indexOf(n.Pods, uid)
	if i < 0 {
		return nil
	}
	pi := n.Pods[i]
	n.Pods = removeAt(n.Pods, i)
	if j := indexOf(n.PodsWithAffinity, uid); j >= 0 {
		n.PodsWithAffinity = removeAt(n.PodsWithAffinity, j)
	}
	if j := indexOf(n.PodsWithRequiredAntiAffinity, uid); j >= 0 {
		n.PodsWithRequiredAntiAffinity = removeAt(n.PodsWithRequiredAntiAffinity, j)
	}
	n.Requested.Sub(&pi.Requests)
	n.NonZeroCPU -= pi.NonZeroCPU
	n.NonZeroMemory -= pi.NonZeroMemory
	for _, p := range pi.HostPorts {
		for k := range n.UsedPorts {
			if n.UsedPorts[k] == p {
				n.UsedPorts = append(n.UsedPorts[:k], n.UsedPorts[k+1:]...)
				break
			}
		}
	}
	if pi.ControllerUID != "" && !pi.Terminating() {
		if n.ownerCounts[pi.ControllerUID]--; n.ownerCounts[pi.ControllerUID] <= 0 {
			delete(n.ownerCounts, pi.ControllerUID)
		}
	}
	return pi
}

// PortConflict reports whether any of ports is already used on the node.
func (n *NodeInfo) PortConflict(ports []HostPort) bool {
	for _, want := range ports {
		for _, used := range n.UsedPorts {
			if want.conflicts(used) {
				return true
			}
		}
	}
	return false
}

func indexOf(pods []*PodInfo, uid types.UID) int {
	for i, p := range pods {
		if p.Pod.UID == uid {
			return i
		}
	}
	return -1
}

// removeAt deletes element i keeping order (pods are listed in arrival order, which
// makes iteration deterministic).
func removeAt(pods []*PodInfo, i int) []*PodInfo {
	copy(pods[i:], pods[i+1:])
	pods[len(pods)-1] = nil
	return pods[:len(pods)-1]
}
