package replicaset

import (
	"testing"
	"time"
)

// TestStatusDelayFollowsSyncCost: status-only syncs of a workload wait statusBatch, or
// statusDutyFactor times its last sync when that is longer, at most maxStatusDelay.
func TestStatusDelayFollowsSyncCost(t *testing.T) {
	var c syncCosts
	for _, tc := range []struct {
		last time.Duration // 0: never synced
		want time.Duration
	}{
		{0, statusBatch},
		{200 * time.Microsecond, statusBatch},
		{25 * time.Millisecond, 250 * time.Millisecond},
		{400 * time.Millisecond, maxStatusDelay},
	} {
		if tc.last > 0 {
			c.record("ns/web", tc.last)
		}
		if got := c.statusDelay("ns/web"); got != tc.want {
			t.Errorf("last sync %v: delay %v, want %v", tc.last, got, tc.want)
		}
		if got := c.statusDelay("ns/other"); got != statusBatch {
			t.Errorf("another workload waits %v, want %v", got, statusBatch)
		}
	}
	c.forget("ns/web")
	if got := c.statusDelay("ns/web"); got != statusBatch {
		t.Errorf("after forget: %v, want %v", got, statusBatch)
	}
}
