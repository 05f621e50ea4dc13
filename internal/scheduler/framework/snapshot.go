package framework

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Snapshot is the cluster as the scheduler sees it: nodes, the pods on them (bound and
// assumed) and namespace labels. It is updated in place, one event at a time, so a
// scheduling cycle never copies the cluster. It is not safe for concurrent use.
type Snapshot struct {
	nodes map[string]*NodeInfo
	// list is the schedulable nodes, interleaved by zone so that sampling a prefix of it
	// spreads over zones; rebuilt lazily when nodes come or go or change zone.
	list      []*NodeInfo
	listDirty bool
	// namespaces maps a namespace to its labels (for namespaceSelector in affinity terms).
	namespaces map[string]labels.Set
	// ownerZoneCounts counts non-terminating pods per controller uid per zone, over nodes
	// with a Node object and a zone label: system default spreading reads it instead of
	// walking every node.
	ownerZoneCounts map[types.UID][]int32
	// ownerNodeCounts counts the same pods per controller uid per node (with or without a
	// Node object). Spreading asks one owner about hundreds of nodes per pod: one
	// pointer-keyed map per owner answers that from a few cache lines, where a map per node
	// keyed by the uid string cost a cache miss and a string compare per node.
	ownerNodeCounts map[types.UID]map[*NodeInfo]int32
	// podsWithAffinity / podsWithRequiredAntiAffinity count such pods cluster-wide, so
	// the affinity plugins can skip their walk when there are none.
	podsWithAffinity, podsWithRequiredAntiAffinity int
	// nominated holds, per node name, the pending pods waiting there for preempted pods
	// to leave; nominatedOn is the node of each such pod.
	nominated   map[string][]*PodInfo
	nominatedOn map[types.UID]string
	// priorities counts placed pods per priority, so that preemption knows at once when
	// no pod anywhere is less important than the preemptor.
	priorities map[int32]int
	// zoneIDs numbers the zones seen (zoneNames[id] is the name): spreading counts per
	// zone in a slice indexed by the node's zone id, where a map keyed by the zone name
	// cost a string hash per sampled node. Ids are never reused.
	zoneIDs   map[string]int32
	zoneNames []string
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{nodes: map[string]*NodeInfo{}, namespaces: map[string]labels.Set{},
		ownerZoneCounts: map[types.UID][]int32{}, ownerNodeCounts: map[types.UID]map[*NodeInfo]int32{},
		nominated: map[string][]*PodInfo{}, nominatedOn: map[types.UID]string{}, priorities: map[int32]int{},
		zoneIDs: map[string]int32{}}
}

// SnapshotOf builds a snapshot of nodes and pods (tests, harnesses). Pods without a
// nodeName are ignored.
func SnapshotOf(nodes []*corev1.Node, pods []*corev1.Pod) *Snapshot {
	s := NewSnapshot()
	for _, n := range nodes {
		s.SetNode(n)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			s.AddPod(NewPodInfo(p))
		}
	}
	return s
}

// SetNode adds or replaces a node.
func (s *Snapshot) SetNode(node *corev1.Node) {
	ni := s.nodes[node.Name]
	if ni == nil {
		ni = &NodeInfo{}
		s.nodes[node.Name] = ni
		s.listDirty = true
	} else if ni.Node == nil || zoneOf(ni.Node) != zoneOf(node) {
		s.listDirty = true
	}
	s.countZone(ni, -1)
	ni.setNode(node)
	if ni.hasZone {
		ni.zoneID = s.zoneID(ni.zone)
		ni.zone = s.zoneNames[ni.zoneID] // one copy of each name, shared by its nodes
	}
	s.countZone(ni, 1)
}

// zoneID returns the id of zone, numbering it when it is new.
func (s *Snapshot) zoneID(zone string) int32 {
	id, ok := s.zoneIDs[zone]
	if !ok {
		id = int32(len(s.zoneNames))
		s.zoneIDs[zone] = id
		s.zoneNames = append(s.zoneNames, zone)
	}
	return id
}

// NumZoneIDs is one more than the largest zone id a node may have (NodeInfo.ZoneID).
func (s *Snapshot) NumZoneIDs() int { return len(s.zoneNames) }

// ZoneName is the zone numbered id.
func (s *Snapshot) ZoneName(id int32) string { return s.zoneNames[id] }

// countZone adds (sign 1) or removes (-1) the node's pods from ownerZoneCounts.
func (s *Snapshot) countZone(ni *NodeInfo, sign int32) {
	if ni.Node == nil || !ni.hasZone {
		return
	}
	for uid, n := range ni.ownerCounts {
		s.addOwnerZone(uid, ni.zoneID, sign*n)
	}
}

func (s *Snapshot) addOwnerZone(uid types.UID, zone int32, delta int32) {
	counts := s.ownerZoneCounts[uid]
	if int(zone) >= len(counts) {
		counts = append(counts, make([]int32, len(s.zoneNames)-len(counts))...)
		s.ownerZoneCounts[uid] = counts
	}
	if counts[zone] += delta; counts[zone] == 0 && !slices.ContainsFunc(counts, func(n int32) bool { return n != 0 }) {
		delete(s.ownerZoneCounts, uid)
	}
}

// OwnerCountInZone is the number of non-terminating pods controlled by uid on nodes of
// the zone numbered zone (NodeInfo.ZoneID).
func (s *Snapshot) OwnerCountInZone(uid types.UID, zone int32) int32 {
	if counts := s.ownerZoneCounts[uid]; int(zone) < len(counts) {
		return counts[zone]
	}
	return 0
}

// OwnerNodeCounts returns, for the pods controlled by uid that are not terminating, how
// many each node has (nodes without any are absent). The map belongs to the snapshot:
// read it within one scheduling cycle, never change it.
func (s *Snapshot) OwnerNodeCounts(uid types.UID) map[*NodeInfo]int32 {
	return s.ownerNodeCounts[uid]
}

func (s *Snapshot) addOwnerNode(uid types.UID, ni *NodeInfo, delta int32) {
	m := s.ownerNodeCounts[uid]
	if m == nil {
		m = map[*NodeInfo]int32{}
		s.ownerNodeCounts[uid] = m
	}
	if m[ni] += delta; m[ni] <= 0 {
		delete(m, ni)
		if len(m) == 0 {
			delete(s.ownerNodeCounts, uid)
		}
	}
}

// HasPodsWithAffinity reports whether any placed pod has pod (anti-)affinity;
// HasPodsWithRequiredAntiAffinity whether any has required anti-affinity.
func (s *Snapshot) HasPodsWithAffinity() bool { return s.podsWithAffinity > 0 }

// HasPodsWithRequiredAntiAffinity reports whether any placed pod has required anti-affinity.
func (s *Snapshot) HasPodsWithRequiredAntiAffinity() bool { return s.podsWithRequiredAntiAffinity > 0 }

func (s *Snapshot) countPod(ni *NodeInfo, pi *PodInfo, sign int) {
	prio := Priority(pi.Pod)
	if s.priorities[prio] += sign; s.priorities[prio] <= 0 {
		delete(s.priorities, prio)
	}
	if pi.HasPodAffinity {
		s.podsWithAffinity += sign
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		s.podsWithRequiredAntiAffinity += sign
	}
	if pi.ControllerUID == "" || pi.Terminating() {
		return
	}
	s.addOwnerNode(pi.ControllerUID, ni, int32(sign))
	if ni.Node != nil && ni.hasZone {
		s.addOwnerZone(pi.ControllerUID, ni.zoneID, int32(sign))
	}
}

// RemoveNode removes a node. Pods still naming it stay accounted (their deletion events
// follow) but the node is no longer a candidate.
func (s *Snapshot) RemoveNode(name string) {
	ni := s.nodes[name]
	if ni == nil {
		return
	}
	s.countZone(ni, -1)
	if len(ni.Pods) == 0 {
		delete(s.nodes, name)
	} else {
		ni.Node = nil
	}
	s.listDirty = true
}

// AddPod accounts a pod on its spec.nodeName.
func (s *Snapshot) AddPod(pi *PodInfo) {
	name := pi.Pod.Spec.NodeName
	ni := s.nodes[name]
	if ni == nil {
		ni = &NodeInfo{}
		s.nodes[name] = ni
	}
	ni.addPod(pi)
	s.countPod(ni, pi, 1)
}

// RemovePod removes the pod with uid from node nodeName and returns it (nil if absent).
func (s *Snapshot) RemovePod(nodeName string, uid types.UID) *PodInfo {
	ni := s.nodes[nodeName]
	if ni == nil {
		return nil
	}
	pi := ni.removePod(uid)
	if pi != nil {
		s.countPod(ni, pi, -1)
	}
	if ni.Node == nil && len(ni.Pods) == 0 {
		delete(s.nodes, nodeName)
	}
	return pi
}

// SetNamespace records a namespace's labels; RemoveNamespace forgets them.
func (s *Snapshot) SetNamespace(name string, l map[string]string) { s.namespaces[name] = l }

// RemoveNamespace forgets a namespace.
func (s *Snapshot) RemoveNamespace(name string) { delete(s.namespaces, name) }

// NamespaceLabels returns the labels of namespace ns.
func (s *Snapshot) NamespaceLabels(ns string) labels.Set { return s.namespaces[ns] }

// Get returns the NodeInfo of a node with a Node object, or nil.
func (s *Snapshot) Get(name string) *NodeInfo {
	if ni := s.nodes[name]; ni != nil && ni.Node != nil {
		return ni
	}
	return nil
}

// NumNodes is the number of schedulable nodes.
func (s *Snapshot) NumNodes() int { return len(s.List()) }

// List returns the nodes in zone-interleaved order: the first node of every zone (zones
// sorted), then the second of every zone, and so on; nodes of a zone sorted by name.
// The slice belongs to the snapshot.
func (s *Snapshot) List() []*NodeInfo {
	if !s.listDirty {
		return s.list
	}
	s.listDirty = false
	byZone := map[string][]*NodeInfo{}
	for _, ni := range s.nodes {
		if ni.Node != nil {
			z := zoneOf(ni.Node)
			byZone[z] = append(byZone[z], ni)
		}
	}
	zones := make([]string, 0, len(byZone))
	for z, nodes := range byZone {
		zones = append(zones, z)
		slices.SortFunc(nodes, func(a, b *NodeInfo) int { return strings.Compare(a.Node.Name, b.Node.Name) })
	}
	slices.Sort(zones)
	s.list = s.list[:0]
	for i := 0; ; i++ {
		added := false
		for _, z := range zones {
			if i < len(byZone[z]) {
				s.list = append(s.list, byZone[z][i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return s.list
}

// zoneOf is the failure domain of a node: region and zone labels.
func zoneOf(node *corev1.Node) string {
	region, zone := node.Labels[corev1.LabelTopologyRegion], node.Labels[corev1.LabelTopologyZone]
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}
