package nodelifecycle

import (
	"sync"
	"time"
)

// healthStore remembers, per node, when this controller last saw a sign of life: a new
// Lease renewTime or a new Ready heartbeat. The time is this controller's own clock at
// observation, as in Kubernetes, so clock skew between machines does not matter and a new
// leader gives every node a full grace period before judging it.
type healthStore struct {
	mu    sync.Mutex
	nodes map[string]*nodeHealth
}

type nodeHealth struct {
	probed     time.Time // when a sign of life was last observed
	leaseRenew time.Time // last renewTime seen on the Lease
	heartbeat  time.Time // last Ready lastHeartbeatTime seen on the Node
}

// advance records a sign-of-life timestamp; only a change after the first sighting
// counts as the node being heard from.
func (nh *nodeHealth) advance(last *time.Time, seen, now time.Time) {
	if seen.After(*last) {
		if !last.IsZero() {
			nh.probed = now
		}
		*last = seen
	}
}

func newHealthStore() *healthStore { return &healthStore{nodes: map[string]*nodeHealth{}} }

// observe records what the Lease and the Node say now (zero times mean "none") and
// returns when the node was last heard from.
func (h *healthStore) observe(node string, leaseRenew, heartbeat, now time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	nh, ok := h.nodes[node]
	if !ok {
		nh = &nodeHealth{probed: now, leaseRenew: leaseRenew, heartbeat: heartbeat}
		h.nodes[node] = nh
		return nh.probed
	}
	nh.advance(&nh.leaseRenew, leaseRenew, now)
	nh.advance(&nh.heartbeat, heartbeat, now)
	return nh.probed
}

func (h *healthStore) forget(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.nodes, node)
}
