package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/berth/berth/internal/storage"
)

// InitialEventsEndAnnotation marks the bookmark that ends the initial events of a
// watch-list (sendInitialEvents=true).
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

// WatchOptions select what a watch streams.
type WatchOptions struct {
	ListOptions
	AllowBookmarks    bool
	SendInitialEvents *bool
}

// Watch streams changes of objects in ns ("" = all) that match the selectors. With no
// resourceVersion (or "0"), or with sendInitialEvents, it first sends the current objects
// as ADDED events. A compacted resourceVersion gives a 410 Gone error.
func (s *Store) Watch(ctx context.Context, ns string, opts WatchOptions) (watch.Interface, error) {
	rev, err := ParseRV(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	initial := opts.ResourceVersion == "" || opts.ResourceVersion == "0"
	if opts.SendInitialEvents != nil {
		if *opts.SendInitialEvents {
			var errs field.ErrorList
			if opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
				errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
			}
			if !opts.AllowBookmarks {
				errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"))
			}
			if len(errs) > 0 {
				return nil, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", errs)
			}
		}
		initial = *opts.SendInitialEvents
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &storeWatch{ch: make(chan watch.Event, 100), cancel: cancel, done: make(chan struct{})}
	var initialObjs []runtime.Object
	if initial {
		listOpts := opts.ListOptions
		listOpts.Limit, listOpts.Continue, listOpts.ResourceVersion, listOpts.ResourceVersionMatch = 0, "", "", ""
		list, err := s.List(ctx, ns, listOpts)
		if err != nil {
			cancel()
			return nil, err
		}
		initialObjs, _ = meta.ExtractList(list)
		lm, _ := meta.ListAccessor(list)
		listRev, _ := ParseRV(lm.GetResourceVersion())
		if listRev < rev {
			cancel()
			return nil, tooLargeResourceVersion(fmt.Sprintf("Too large resource version: %d, current: %d", rev, listRev))
		}
		rev = listRev
	}
	stream, err := s.openStream(ctx, s.Res.KeyPrefix(ns), rev, opts.AllowBookmarks)
	if err != nil {
		cancel()
		if errors.Is(err, storage.ErrCompacted) {
			return nil, tooOld(rev)
		}
		return nil, s.storageError(err, "")
	}
	w.prefix = s.Res.KeyPrefix(ns)
	go w.run(ctx, s, stream, opts, initialObjs, rev)
	return w, nil
}

func tooOld(rev int64) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired,
		Message: fmt.Sprintf("too old resource version: %d", rev),
	}}
}

// failedStream is a stream that could not be reopened.
type failedStream struct{ err error }

func (f *failedStream) Events() <-chan *objEvent { return nil }
func (f *failedStream) Err() error               { return f.err }
func (f *failedStream) Stop()                    {}

type storeWatch struct {
	// prefix is the storage prefix watched (to resume after a cache restart).
	prefix string
	ch     chan watch.Event
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (w *storeWatch) ResultChan() <-chan watch.Event { return w.ch }

func (w *storeWatch) Stop() {
	w.once.Do(func() {
		w.cancel()
	})
	<-w.done
}

func (w *storeWatch) send(ctx context.Context, ev watch.Event) bool {
	select {
	case w.ch <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *storeWatch) run(ctx context.Context, s *Store, stream eventStream, opts WatchOptions, initial []runtime.Object, rev int64) {
	defer close(w.done)
	defer close(w.ch)
	defer func() { stream.Stop() }()
	var nextBookmark time.Time
	for _, obj := range initial {
		if !w.send(ctx, watch.Event{Type: watch.Added, Object: obj}) {
			return
		}
	}
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		if !w.send(ctx, watch.Event{Type: watch.Bookmark, Object: s.bookmark(rev, true)}) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-stream.Events():
			if !ok {
				if errors.Is(stream.Err(), errCacheRestarted) && ctx.Err() == nil {
					// The shared cache restarted under this watch: carry on from storage
					// after the last revision delivered.
					next, err := s.openStream(ctx, w.prefix, rev, opts.AllowBookmarks)
					if err == nil {
						stream.Stop()
						stream = next
						continue
					}
					stream = &failedStream{err: err}
				}
				if err := stream.Err(); err != nil && ctx.Err() == nil {
					var status error = s.storageError(err, "")
					if errors.Is(err, storage.ErrCompacted) {
						status = tooOld(rev)
					}
					var se *apierrors.StatusError
					if errors.As(status, &se) {
						w.send(ctx, watch.Event{Type: watch.Error, Object: &se.ErrStatus})
					}
				}
				return
			}
			out, ok, err := s.translate(ev, opts)
			if err != nil {
				s.log.Error("watch decode", "resource", s.Res.Name, "err", err)
				continue
			}
			if ev.rev > 0 {
				rev = ev.rev
			}
			if ok && out.Type == watch.Bookmark && s.BookmarkInterval > 0 {
				// Progress comes every few seconds; a client needs a bookmark only now and
				// then (Kubernetes sends one a minute).
				if now := s.now(); now.Before(nextBookmark) {
					ok = false
				} else {
					nextBookmark = now.Add(s.BookmarkInterval)
				}
			}
			if ok && !w.send(ctx, out) {
				return
			}
		}
	}
}

func (s *Store) bookmark(rev int64, initialEnd bool) runtime.Object {
	obj := s.Res.New()
	accessor, _ := meta.Accessor(obj)
	accessor.SetResourceVersion(formatRV(rev))
	if initialEnd {
		accessor.SetAnnotations(map[string]string{InitialEventsEndAnnotation: "true"})
	}
	obj.GetObjectKind().SetGroupVersionKind(s.Res.GVK())
	return obj
}

// translate turns a change into the watch event a client with these selectors sees:
// objects entering the selection are ADDED, leaving it DELETED.
func (s *Store) translate(ev *objEvent, opts WatchOptions) (watch.Event, bool, error) {
	switch ev.typ {
	case storage.EventProgress:
		if !opts.AllowBookmarks {
			return watch.Event{}, false, nil
		}
		return watch.Event{Type: watch.Bookmark, Object: s.bookmark(ev.rev, false)}, true, nil
	case storage.EventDelete:
		return watch.Event{Type: watch.Deleted, Object: ev.obj}, s.Matches(ev.obj, opts.ListOptions), nil
	}
	newMatch := s.Matches(ev.obj, opts.ListOptions)
	if ev.prevRaw == nil {
		return watch.Event{Type: watch.Added, Object: ev.obj}, newMatch, nil
	}
	oldMatch := true
	if !selectorsEmpty(opts.ListOptions) {
		prev, err := ev.previous(s)
		if err != nil {
			return watch.Event{}, false, err
		}
		oldMatch = s.Matches(prev, opts.ListOptions)
	}
	switch {
	case newMatch && oldMatch:
		return watch.Event{Type: watch.Modified, Object: ev.obj}, true, nil
	case newMatch:
		return watch.Event{Type: watch.Added, Object: ev.obj}, true, nil
	case oldMatch:
		return watch.Event{Type: watch.Deleted, Object: ev.obj}, true, nil
	}
	return watch.Event{}, false, nil
}

func selectorsEmpty(o ListOptions) bool {
	return (o.Label == nil || o.Label.Empty()) && (o.Field == nil || o.Field.Empty())
}
