package replicaset

import (
	"sync"
	"time"
)

const (
	// statusDutyFactor bounds the share of a worker that a workload's status-only syncs
	// take: after a sync that lasted d, the next one a status change asks for waits at
	// least statusDutyFactor×d. A sync walks all of the workload's pods, so with 30 000 of
	// them (≈ 25 ms a sync) statusBatch alone let status changes sync it ten times a
	// second — an eighth of the control plane's CPU in a 30 000-pod rollout — for status
	// figures nobody reads that often. Small workloads sync in microseconds and keep
	// statusBatch.
	statusDutyFactor = 10
	// maxStatusDelay caps the wait, so that status trails the pods by at most this.
	maxStatusDelay = time.Second
)

// syncCosts remembers how long each workload's last sync took.
type syncCosts struct {
	mu    sync.Mutex
	byKey map[string]time.Duration
}

func (s *syncCosts) record(key string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey == nil {
		s.byKey = map[string]time.Duration{}
	}
	s.byKey[key] = d
}

func (s *syncCosts) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byKey, key)
}

// statusDelay is how long a status-only change to key may wait before it syncs.
func (s *syncCosts) statusDelay(key string) time.Duration {
	s.mu.Lock()
	d := s.byKey[key]
	s.mu.Unlock()
	return min(max(statusBatch, statusDutyFactor*d), maxStatusDelay)
}
