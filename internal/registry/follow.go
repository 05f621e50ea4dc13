package registry

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// followed is a copy of the objects of one store, kept by listing the store and watching
// it from the list's revision (listing again when the watch ends), as an informer's
// lister is for kube-apiserver's admission plugins. Objects are keyed by followKey: the
// name for cluster-scoped stores, "namespace/name" for namespaced ones. It lags the store
// by a watch event: callers that must not miss a new object fall back to the store, or
// wait for the copy to change (changed).
type followed[T metav1.Object] struct {
	mu     sync.RWMutex
	known  map[string]T
	synced bool
	// updated is closed, and replaced, whenever the copy changes.
	updated chan struct{}
}

// followKey is the key of the object named name in namespace ns ("" when cluster-scoped).
func followKey(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// follow starts a copy of store's objects, kept until ctx ends.
func follow[T metav1.Object](ctx context.Context, store *Store) *followed[T] {
	f := &followed[T]{known: map[string]T{}, updated: make(chan struct{})}
	go f.run(ctx, store)
	return f
}

// get returns the object with key (see followKey), if the copy has it.
func (f *followed[T]) get(key string) (T, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	obj, ok := f.known[key]
	return obj, ok
}

// getOrChanged returns the object with key if the copy has it; else a channel that is
// closed at the copy's next change, so that a caller may wait for the object without
// missing a change made after this look-up.
func (f *followed[T]) getOrChanged(key string) (T, bool, <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	obj, ok := f.known[key]
	return obj, ok, f.updated
}

// list returns every object of the copy, and false until the first list has been read
// (the copy may then lack objects that exist). The objects are shared: read-only.
func (f *followed[T]) list() ([]T, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	objs := make([]T, 0, len(f.known))
	for _, obj := range f.known {
		objs = append(objs, obj)
	}
	return objs, f.synced
}

// changed wakes the waiters of getOrChanged. f.mu must be held for writing.
func (f *followed[T]) changed() {
	close(f.updated)
	f.updated = make(chan struct{})
}

func (f *followed[T]) run(ctx context.Context, store *Store) {
	for ctx.Err() == nil {
		if err := f.sync(ctx, store); err != nil && ctx.Err() == nil {
			store.log.Warn("follow store", "resource", store.Res.GroupResource().String(), "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// sync lists the store, then applies its watch until the watch ends.
func (f *followed[T]) sync(ctx context.Context, store *Store) error {
	list, err := store.List(ctx, "", ListOptions{})
	if err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	known := make(map[string]T, len(items))
	for _, item := range items {
		if obj, ok := item.(T); ok {
			known[followKey(obj.GetNamespace(), obj.GetName())] = obj
		}
	}
	f.mu.Lock()
	f.known, f.synced = known, true
	f.changed()
	f.mu.Unlock()

	w, err := store.Watch(ctx, "", WatchOptions{ListOptions: ListOptions{ResourceVersion: lm.GetResourceVersion()}})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return apierrors.FromObject(ev.Object)
		}
		obj, ok := ev.Object.(T)
		if !ok {
			continue
		}
		key := followKey(obj.GetNamespace(), obj.GetName())
		f.mu.Lock()
		switch ev.Type {
		case watch.Added, watch.Modified:
			f.known[key] = obj
			f.changed()
		case watch.Deleted:
			delete(f.known, key)
			f.changed()
		}
		f.mu.Unlock()
	}
	return nil
}
