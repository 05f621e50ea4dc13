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

// followed is a copy of the objects of one cluster-scoped store, kept by listing the
// store and watching it from the list's revision (listing again when the watch ends),
// as an informer's lister is for kube-apiserver's admission plugins. It lags the store
// by a watch event: callers that must not miss a new object fall back to the store.
type followed[T metav1.Object] struct {
	mu     sync.RWMutex
	known  map[string]T
	synced bool
}

// follow starts a copy of store's objects, kept until ctx ends.
func follow[T metav1.Object](ctx context.Context, store *Store) *followed[T] {
	f := &followed[T]{known: map[string]T{}}
	go f.run(ctx, store)
	return f
}

// get returns the object named name, if the copy has it.
func (f *followed[T]) get(name string) (T, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	obj, ok := f.known[name]
	return obj, ok
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
			known[obj.GetName()] = obj
		}
	}
	f.mu.Lock()
	f.known, f.synced = known, true
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
		f.mu.Lock()
		switch ev.Type {
		case watch.Added, watch.Modified:
			f.known[obj.GetName()] = obj
		case watch.Deleted:
			delete(f.known, obj.GetName())
		}
		f.mu.Unlock()
	}
	return nil
}
