package endpointslice

import (
	"strconv"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// deletionExpected marks a slice this controller deleted.
const deletionExpected = 0

// sliceTracker remembers, per Service, the resourceVersion of every slice this controller
// last wrote (upstream tracks generations; berth's resourceVersion is the etcd revision,
// so it orders writes too). A sync must not act on a cache that has not caught up with its
// own writes: it would create duplicate slices or undo a newer update.
type sliceTracker struct {
	mu        sync.Mutex
	byService map[string]map[types.UID]uint64
}

func newSliceTracker() *sliceTracker {
	return &sliceTracker{byService: map[string]map[types.UID]uint64{}}
}

func revision(s *discoveryv1.EndpointSlice) uint64 {
	rv, err := strconv.ParseUint(s.ResourceVersion, 10, 64)
	if err != nil {
		return 0
	}
	return rv
}

// wrote records a slice as created or updated by this controller.
func (t *sliceTracker) wrote(service string, s *discoveryv1.EndpointSlice) {
	t.set(service, s.UID, revision(s))
}

// deleted records a slice as deleted by this controller.
func (t *sliceTracker) deleted(service string, s *discoveryv1.EndpointSlice) {
	t.set(service, s.UID, deletionExpected)
}

func (t *sliceTracker) set(service string, uid types.UID, rv uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.byService[service]
	if m == nil {
		m = map[types.UID]uint64{}
		t.byService[service] = m
	}
	m[uid] = rv
}

// stale reports whether the cached slices of a Service miss one of this controller's
// writes: a slice it wrote is absent or older, or a slice it deleted is still there.
func (t *sliceTracker) stale(service string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := t.byService[service]
	if len(want) == 0 {
		return false
	}
	seen := make(map[types.UID]bool, len(cached))
	for _, s := range cached {
		seen[s.UID] = true
		if rv, ok := want[s.UID]; ok && (rv == deletionExpected || revision(s) < rv) {
			return true
		}
	}
	for uid, rv := range want {
		if rv != deletionExpected && !seen[uid] {
			return true
		}
	}
	return false
}

// observe takes a slice event from the informer and reports whether it is news to this
// controller (someone else changed or deleted a managed slice), so the Service needs a sync.
func (t *sliceTracker) observe(service string, s *discoveryv1.EndpointSlice, gone bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.byService[service]
	rv, tracked := m[s.UID]
	if gone {
		if tracked {
			delete(m, s.UID)
			if len(m) == 0 {
				delete(t.byService, service)
			}
		}
		return !tracked || rv != deletionExpected
	}
	return !tracked || (rv != deletionExpected && revision(s) > rv)
}
