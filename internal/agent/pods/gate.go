package pods

import (
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
)

// retryGate is a per-key back-off for failures that leave nothing in the runtime to
// time from (image pulls, container creation): fail records a failure and says how long
// to wait, wait says how long is left.
type retryGate struct {
	backoff *flowcontrol.Backoff
	clock   clock.Clock

	mu      sync.Mutex
	next    map[string]time.Time
	lastErr map[string]string
}

func newRetryGate(initial, maxDelay time.Duration, clk clock.Clock) *retryGate {
	return &retryGate{backoff: flowcontrol.NewFakeBackOff(initial, maxDelay, clk), clock: clk,
		next: map[string]time.Time{}, lastErr: map[string]string{}}
}

// fail records a failure of key and returns the delay before the next try.
func (g *retryGate) fail(key string) time.Duration { return g.failWith(key, "") }

// failWith is fail remembering the error text (shown while waiting).
func (g *retryGate) failWith(key, msg string) time.Duration {
	now := g.clock.Now()
	g.backoff.Next(key, now)
	d := g.backoff.Get(key)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next[key] = now.Add(d)
	if msg != "" {
		g.lastErr[key] = msg
	}
	return d
}

// wait is how long key must still wait (0: try now).
func (g *retryGate) wait(key string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.next[key]
	if !ok {
		return 0
	}
	return max(t.Sub(g.clock.Now()), 0)
}

func (g *retryGate) lastError(key string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lastErr[key]
}

// forget clears key after a success (the back-off itself decays as the kubelet's does).
func (g *retryGate) forget(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.next, key)
	delete(g.lastErr, key)
}

// forgetPrefix clears every key of a pod.
func (g *retryGate) forgetPrefix(prefix string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for key := range g.next {
		if strings.HasPrefix(key, prefix) {
			delete(g.next, key)
			delete(g.lastErr, key)
			g.backoff.DeleteEntry(key)
		}
	}
}
