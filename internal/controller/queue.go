package controller

import (
	"context"
	"sync"

	"k8s.io/client-go/util/workqueue"
)

// processQueue syncs the queue's keys one at a time until the queue shuts down. A key
// whose sync succeeds is forgotten by the rate limiter; one whose sync fails is reported
// to failed (when not nil) and retried rate-limited — unless ctx has ended: a sync cut
// short by the end is no failure.
func processQueue[K comparable](ctx context.Context, q workqueue.TypedRateLimitingInterface[K], syncKey func(context.Context, K) error, failed func(K, error)) {
	for processNext(ctx, q, syncKey, failed) {
	}
}

func processNext[K comparable](ctx context.Context, q workqueue.TypedRateLimitingInterface[K], syncKey func(context.Context, K) error, failed func(K, error)) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	if err := syncKey(ctx, key); err != nil {
		if ctx.Err() != nil {
			return true // cut short by the end: nothing to report or retry
		}
		if failed != nil {
			failed(key, err)
		}
		q.AddRateLimited(key)
		return true
	}
	q.Forget(key)
	return true
}

// RunWorkers runs workers processQueue loops over q until ctx ends, then shuts q down and
// waits for them to finish the keys they hold.
func RunWorkers[K comparable](ctx context.Context, q workqueue.TypedRateLimitingInterface[K], workers int, syncKey func(context.Context, K) error, failed func(K, error)) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { processQueue(ctx, q, syncKey, failed) })
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}
