package scheduler

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth/berth/internal/scheduler/framework"
)

// cache is the snapshot fed by informer events plus the scheduler's own assumptions:
// a pod is accounted on its node as soon as it is chosen (assumed), so the next decision
// sees it, and the informer's view replaces the assumption when the binding shows up.
// A scheduling cycle holds mu for its duration; cycles are short (tens of µs) and this
// avoids copying the cluster per cycle.
type cache struct {
	mu   sync.Mutex
	snap *framework.Snapshot
	pods map[types.UID]*placement
}

type placement struct {
	node    string
	assumed bool
}

func newCache() *cache {
	return &cache{snap: framework.NewSnapshot(), pods: map[types.UID]*placement{}}
}

func (c *cache) setNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap.SetNode(node)
}

func (c *cache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap.RemoveNode(name)
}

func (c *cache) setNamespace(ns *corev1.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap.SetNamespace(ns.Name, ns.Labels)
}

func (c *cache) removeNamespace(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap.RemoveNamespace(name)
}

// setPod accounts a bound pod as the informer reports it, replacing an assumption or an
// older version.
func (c *cache) setPod(pod *corev1.Pod) {
	pi := framework.NewPodInfo(pod) // outside the lock: parsing the spec is the slow part
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pods[pod.UID]; p != nil {
		c.snap.RemovePod(p.node, pod.UID)
	}
	c.snap.AddPod(pi)
	c.snap.Unnominate(pod.UID)
	c.pods[pod.UID] = &placement{node: pod.Spec.NodeName}
}

// removePod forgets a pod (deleted or finished).
func (c *cache) removePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap.Unnominate(uid)
	if p := c.pods[uid]; p != nil {
		c.snap.RemovePod(p.node, uid)
		delete(c.pods, uid)
	}
}

// assumeLocked accounts pi on node before the binding is observed. Caller holds mu.
func (c *cache) assumeLocked(pi *framework.PodInfo, node string) {
	pod := *pi.Pod
	pod.Spec.NodeName = node
	assumed := *pi
	assumed.Pod = &pod
	c.snap.AddPod(&assumed)
	c.snap.Unnominate(pod.UID)
	c.pods[pod.UID] = &placement{node: node, assumed: true}
}

// nominate records a pending pod's status.nominatedNodeName ("" forgets it): the node's
// room stays reserved for it, also across a change of leader.
func (c *cache) nominate(pod *corev1.Pod) {
	var pi *framework.PodInfo
	if pod.Status.NominatedNodeName != "" {
		pi = framework.NewPodInfo(pod)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pi == nil {
		c.snap.Unnominate(pod.UID)
		return
	}
	c.snap.Nominate(pi, pod.Status.NominatedNodeName)
}

// forget drops an assumption whose binding failed; it reports whether there was one.
func (c *cache) forget(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pods[uid]
	if p == nil || !p.assumed {
		return false
	}
	c.snap.RemovePod(p.node, uid)
	delete(c.pods, uid)
	return true
}

// placed reports whether the pod is bound or assumed.
func (c *cache) placed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[uid] != nil
}
