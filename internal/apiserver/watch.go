package apiserver

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/berth/berth/internal/registry"
)

// defaultWatchTimeout bounds watches that give no timeoutSeconds, spread so that many
// clients do not reconnect at once (as kube-apiserver's min-request-timeout does).
func defaultWatchTimeout() time.Duration {
	return 30*time.Minute + time.Duration(rand.Int64N(int64(30*time.Minute)))
}

func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	out, err := s.negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	raw, opts, err := s.listOptions(r, st)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if info.Name != "" {
		byName := fields.OneTermEqualSelector("metadata.name", info.Name)
		if opts.Field != nil && !opts.Field.Empty() {
			byName = fields.AndSelectors(opts.Field, byName)
		}
		opts.Field = byName
	}
	timeout := defaultWatchTimeout()
	if raw.TimeoutSeconds != nil && *raw.TimeoutSeconds > 0 {
		timeout = time.Duration(*raw.TimeoutSeconds) * time.Second
	}
	ctx := r.Context()
	wi, err := st.Watch(ctx, info.Namespace, registry.WatchOptions{
		ListOptions: opts, AllowBookmarks: raw.AllowWatchBookmarks, SendInitialEvents: raw.SendInitialEvents,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer wi.Stop()

	var sink *objectSink
	if out.Kind != outputTable {
		if sink = takeObjectSink(r); sink != nil {
			w.Header().Set(objectWatchHeader, "objects")
		}
	}
	flusher, _ := w.(http.Flusher)
	ct := out.MediaType
	if out.MediaType == mediaProtobuf {
		ct += ";stream=watch"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	if sink != nil {
		passObjects(ctx, wi, sink, out.Kind == outputPartial, timeout)
		return
	}
	stream := out.Info.StreamSerializer
	enc := streaming.NewEncoder(stream.Framer.NewFrameWriter(w), stream.Serializer)
	var pbEvents *protobufEventWriter
	if out.MediaType == mediaProtobuf {
		pbEvents = &protobufEventWriter{w: w}
	}
	embedded := out.Info.Serializer
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	firstTable := true
	for {
		ev, ok := nextEvent(ctx, timer, wi)
		if !ok {
			return
		}
		obj := ev.Object
		if ev.Type == watch.Error {
			obj.GetObjectKind().SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("Status"))
		} else {
			switch out.Kind {
			case outputTable:
				table, err := s.asTable(r, obj, st)
				if err != nil {
					s.log.Error("watch table", "err", err)
					return
				}
				if !firstTable {
					table.ColumnDefinitions = nil
				}
				firstTable = false
				obj = table
			case outputPartial:
				if obj, err = asPartial(obj); err != nil {
					return
				}
			}
		}
		if obj.GetObjectKind().GroupVersionKind().Empty() {
			if gvks, _, err := s.codecs.Scheme.ObjectKinds(obj); err == nil {
				obj.GetObjectKind().SetGroupVersionKind(gvks[0])
			}
		}
		var data []byte
		if out.Kind == outputObject && ev.Type != watch.Bookmark && ev.Type != watch.Error {
			data, err = s.encodings.encode(embedded, obj)
		} else {
			data, err = registry.Encode(embedded, obj)
		}
		if err != nil {
			s.log.Error("watch encode", "err", err)
			return
		}
		if pbEvents != nil {
			err = pbEvents.write(string(ev.Type), data)
		} else {
			err = enc.Encode(&metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: data}})
		}
		if err != nil {
			return
		}
		if flusher != nil && len(wi.ResultChan()) == 0 {
			flusher.Flush()
		}
	}
}

// nextEvent waits for the watch's next event; false when the watch, the request or the
// timer ended.
func nextEvent(ctx context.Context, timer *time.Timer, wi watch.Interface) (watch.Event, bool) {
	select {
	case <-ctx.Done():
		return watch.Event{}, false
	case <-timer.C:
		return watch.Event{}, false
	case ev, ok := <-wi.ResultChan():
		return ev, ok
	}
}
