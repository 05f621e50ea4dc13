package replicaset

import (
	"sync"
	"time"
)

// expectationsTTL bounds how long a sync waits for the informer to report what it did: a
// watch event lost for good must not freeze a workload forever.
const expectationsTTL = 5 * time.Minute

// expectations records, per workload key, the pod creations and deletions this controller
// made and the informer has not reported yet. While some are outstanding, a sync only
// updates status: acting on the stale cache again would overshoot.
type expectations struct {
	mu    sync.Mutex
	byKey map[string]*expectation
	now   func() time.Time
}

type expectation struct {
	add, del int64
	// deleting holds the keys (namespace/name) of pods whose deletion is expected, so a pod
	// seen first as terminating and then as gone lowers the count once.
	deleting  map[string]bool
	timestamp time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{byKey: map[string]*expectation{}, now: now}
}

// satisfied says whether a sync may create or delete pods for key.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.byKey[key]
	if !ok {
		return true
	}
	return (exp.add <= 0 && exp.del <= 0) || e.now().Sub(exp.timestamp) > expectationsTTL
}

// expectCreations replaces key's record with n pending creations.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expectation{add: int64(n), timestamp: e.now()}
}

// expectDeletions replaces key's record with the deletion of podKeys.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	deleting := make(map[string]bool, len(podKeys))
	for _, k := range podKeys {
		deleting[k] = true
	}
	e.byKey[key] = &expectation{del: int64(len(deleting)), deleting: deleting, timestamp: e.now()}
}

// creationObserved lowers key's pending creations by one.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.byKey[key]; ok {
		exp.add--
	}
}

// deletionObserved lowers key's pending deletions when podKey was one of them.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if exp, ok := e.byKey[key]; ok && exp.deleting[podKey] {
		delete(exp.deleting, podKey)
		exp.del--
	}
}

// forget drops key's record (the workload is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
