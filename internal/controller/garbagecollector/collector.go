package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
)

const (
	deleteWorkers = 10
	orphanWorkers = 5
	// patchParallelism bounds the concurrent patches releasing one owner's dependents.
	patchParallelism = 16
	// conflictRetries bounds the immediate retries of a delete whose precondition
	// failed on a change that did not touch the ownerReferences.
	conflictRetries = 3
	// syncTimeout bounds the wait for the informers' initial lists.
	syncTimeout = 30 * time.Second
)

// GarbageCollector is the cascading-deletion loop. Build one per leadership term.
type GarbageCollector struct {
	metadata  metadata.Interface
	discovery discovery.ServerResourcesInterface
	log       *slog.Logger

	graph  *graph
	absent *absentOwners
	// resources is set by Run before any worker starts.
	resources *resources

	// attemptToDelete holds dependents that may have lost their owners and owners
	// deleting in the foreground; attemptToOrphan holds owners deleted with Orphan.
	attemptToDelete workqueue.TypedRateLimitingInterface[types.UID]
	attemptToOrphan workqueue.TypedRateLimitingInterface[types.UID]
}

// New builds the garbage collector from the shared controller context.
func New(cc *controller.Context) (controller.Runnable, error) {
	return newCollector(cc.Metadata, cc.Client.Discovery(), cc.Log.With("controller", "garbagecollector")), nil
}

func newCollector(md metadata.Interface, disc discovery.ServerResourcesInterface, log *slog.Logger) *GarbageCollector {
	return &GarbageCollector{
		metadata:  md,
		discovery: disc,
		log:       log,
		graph:     newGraph(),
		absent:    newAbsentOwners(4096),
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_delete"}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage_collector_attempt_to_orphan"}),
	}
}

// Name implements controller.Runnable.
func (gc *GarbageCollector) Name() string { return "garbagecollector" }

// Run discovers the served resources, fills the graph from metadata informers, then
// runs the workers until ctx ends.
func (gc *GarbageCollector) Run(ctx context.Context) error {
	defer gc.attemptToDelete.ShutDown()
	defer gc.attemptToOrphan.ShutDown()

	res, err := gc.discover(ctx)
	if err != nil {
		return err
	}
	gc.resources = res

	factory := metadatainformer.NewSharedInformerFactory(gc.metadata, 0)
	// The graph is complete once every handler has seen its informer's initial list.
	handlersSynced := make([]cache.InformerSynced, 0, len(res.watched))
	for _, gvr := range res.watched {
		inf := factory.ForResource(gvr).Informer()
		if err := inf.SetTransform(slimMetadata); err != nil {
			return fmt.Errorf("informer for %s: %w", gvr, err)
		}
		reg, err := inf.AddEventHandler(gc.handlers(gvr))
		if err != nil {
			return fmt.Errorf("informer for %s: %w", gvr, err)
		}
		handlersSynced = append(handlersSynced, reg.HasSynced)
	}
	informerCtx, stopInformers := context.WithCancel(ctx)
	factory.Start(informerCtx.Done())
	defer factory.Shutdown() // runs after stopInformers: waits for the informer goroutines
	defer stopInformers()

	start := time.Now()
	syncCtx, cancelSync := context.WithTimeout(ctx, syncTimeout)
	synced := cache.WaitForCacheSync(syncCtx.Done(), handlersSynced...)
	cancelSync()
	if ctx.Err() != nil {
		return nil
	}
	if !synced {
		// Objects of a resource that cannot be listed join the graph when it can; the
		// decisions for the others need not wait (owners are checked live anyway).
		for i, hasSynced := range handlersSynced {
			if !hasSynced() {
				gc.log.Warn("informer not synced, starting without it", "resource", res.watched[i])
			}
		}
	}
	gc.enqueue(gc.graph.markSynced())
	gc.log.Info("graph synced", "resources", len(res.watched), "objects", gc.graph.size(), "took", time.Since(start).Round(time.Millisecond))

	retrying := func(uid types.UID, err error) { gc.log.Debug("retrying", "uid", uid, "err", err) }
	var wg sync.WaitGroup
	wg.Go(func() {
		controller.RunWorkers(ctx, gc.attemptToDelete, deleteWorkers, gc.attemptToDeleteItem, retrying)
	})
	wg.Go(func() {
		controller.RunWorkers(ctx, gc.attemptToOrphan, orphanWorkers, gc.attemptToOrphanItem, retrying)
	})
	wg.Wait()
	return nil
}

// discover retries discovery with backoff until it lists resources or ctx ends. A
// partial failure is logged and what was found is used.
func (gc *GarbageCollector) discover(ctx context.Context) (*resources, error) {
	var res *resources
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 1 << 30, Cap: 10 * time.Second}
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(context.Context) (bool, error) {
		r, err := discoverResources(gc.discovery)
		if r == nil {
			gc.log.Warn("discovery failed, retrying", "err", err)
			return false, nil
		}
		if err != nil {
			gc.log.Warn("partial discovery", "err", err)
		}
		res = r
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("discover resources: %w", err)
	}
	return res, nil
}

func (gc *GarbageCollector) handlers(gvr schema.GroupVersionResource) cache.ResourceEventHandlerFuncs {
	observe := func(obj any) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		gc.enqueue(gc.graph.upsert(newNode(gvr, m)))
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				return
			}
			gc.enqueue(gc.graph.remove(m.GetUID()))
		},
	}
}

func (gc *GarbageCollector) enqueue(w work) {
	for _, uid := range w.attemptToDelete {
		gc.attemptToDelete.Add(uid)
	}
	for _, uid := range w.attemptToOrphan {
		gc.attemptToOrphan.Add(uid)
	}
}

// slimMetadata keeps only what the graph reads, so the informer caches stay small.
func slimMetadata(obj any) (any, error) {
	p, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			OwnerReferences: p.OwnerReferences, Finalizers: p.Finalizers, DeletionTimestamp: p.DeletionTimestamp,
		},
	}, nil
}

// absentOwners remembers owners found gone, so the dependents of one deleted owner cost
// one GET of it, not one each. A uid never comes back, so an entry never turns stale.
type absentOwners struct {
	mu      sync.Mutex
	limit   int
	entries map[absentKey]struct{}
}

type absentKey struct {
	uid       types.UID
	namespace string
}

func newAbsentOwners(limit int) *absentOwners {
	return &absentOwners{limit: limit, entries: map[absentKey]struct{}{}}
}

func (a *absentOwners) has(k absentKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.entries[k]
	return ok
}

func (a *absentOwners) add(k absentKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) >= a.limit {
		clear(a.entries) // a cache only: forgetting costs a GET
	}
	a.entries[k] = struct{}{}
}
