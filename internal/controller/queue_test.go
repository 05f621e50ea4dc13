package controller

import (
	"context"
	"errors"
	"sync"
	"testing"

	"k8s.io/client-go/util/workqueue"
)

// TestRunWorkersRetriesFailuresAndStops: a failing key is reported and retried until it
// syncs, succeeding keys sync once, and the end of ctx stops the workers with the queue
// shut down — no report for a sync the end cut short.
func TestRunWorkersRetriesFailuresAndStops(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu       sync.Mutex
		synced   = map[string]int{}
		reported []string
	)
	allDone := make(chan struct{})
	syncKey := func(ctx context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		synced[key]++
		if key == "flaky" && synced[key] < 3 {
			return errors.New("not yet")
		}
		if synced["a"] == 1 && synced["b"] == 1 && synced["flaky"] == 3 && key != "late" {
			close(allDone)
		}
		if key == "late" {
			cancel()
			return errors.New("cut short")
		}
		return nil
	}
	failed := func(key string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, key+": "+err.Error())
	}
	for _, k := range []string{"a", "flaky", "b"} {
		q.Add(k)
	}
	done := make(chan struct{})
	go func() {
		RunWorkers(ctx, q, 2, syncKey, failed)
		close(done)
	}()
	<-allDone
	q.Add("late")
	<-done
	if !q.ShuttingDown() {
		t.Error("the queue is not shut down after RunWorkers returned")
	}
	mu.Lock()
	defer mu.Unlock()
	if synced["a"] != 1 || synced["b"] != 1 || synced["flaky"] != 3 || synced["late"] != 1 {
		t.Errorf("syncs = %v, want a, b and late once, flaky 3 times", synced)
	}
	if len(reported) != 2 || reported[0] != "flaky: not yet" || reported[1] != "flaky: not yet" {
		t.Errorf("reported %q, want flaky's two failures only", reported)
	}
	if n := q.NumRequeues("a"); n != 0 {
		t.Errorf("a requeued %d times after syncing", n)
	}
}
