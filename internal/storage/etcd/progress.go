package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// progressHub asks etcd for progress on behalf of every progress-enabled watch of a
// Store: one request per interval. etcd answers a request on the gRPC stream that all of
// the client's watches share, and the client hands the answer to every watch on it, so
// one request serves them all; a request per watch made N watches wake N² times per
// interval (about 80 wake-ups a second in an idle server with 20 watch caches).
//
// Each interval the hub also reads the store's revision and tells every watch: etcd
// sends no progress while any watch on the stream starts past the current revision
// (every watch "from now" does until the next write), and a watch that has delivered
// everything up to that revision can announce it itself.
type progressHub struct {
	store *Store

	mu      sync.Mutex
	subs    map[chan int64]struct{}
	stopRun context.CancelFunc // the running loop; nil while nobody listens
}

// subscribe returns a channel that receives the store's revision at each interval (-1
// when it could not be read) and a function to unsubscribe. The hub runs while anyone
// listens.
func (h *progressHub) subscribe() (<-chan int64, func()) {
	ch := make(chan int64, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[chan int64]struct{}{}
	}
	h.subs[ch] = struct{}{}
	if h.stopRun == nil {
		ctx, cancel := context.WithCancel(h.store.closeCtx)
		h.stopRun = cancel
		go h.run(ctx)
	}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, ch)
		if len(h.subs) == 0 && h.stopRun != nil {
			h.stopRun()
			h.stopRun = nil
		}
	}
}

func (h *progressHub) run(ctx context.Context) {
	ticker := time.NewTicker(h.store.progressInterval)
	defer ticker.Stop()
	// The watches' streams are keyed by their context's metadata (RequireLeader); the
	// request must name the same stream.
	streamCtx := clientv3.WithRequireLeader(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		rev, err := h.store.CurrentRevision(ctx)
		if err != nil {
			rev = -1
		}
		h.mu.Lock()
		for ch := range h.subs {
			select {
			case <-ch: // replace a revision the watch has not taken yet
			default:
			}
			ch <- rev
		}
		h.mu.Unlock()
		// A failed request only delays progress; the streams report real failures.
		_ = h.store.client.RequestProgress(streamCtx)
	}
}
