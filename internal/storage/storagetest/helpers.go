package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/storage"
)

// waitTimeout bounds every wait on a backend; generous so that a loaded CI machine does not
// flake, while a hung backend still fails the test instead of the whole binary.
const waitTimeout = 20 * time.Second

// fixture is what every case gets: a store, a context ended with the test, and a key prefix
// no other case uses (so a backend shared between cases still isolates them).
type fixture struct {
	t     *testing.T
	store storage.Interface
	ctx   context.Context
	base  string
}

func newFixture(t *testing.T, newStore func(t *testing.T) storage.Interface) *fixture {
	t.Helper()
	store := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return &fixture{t: t, store: store, ctx: ctx, base: fmt.Sprintf("/registry/%s-%d/", name, time.Now().UnixNano())}
}

// key returns a key under the case's prefix.
func (f *fixture) key(parts ...string) string { return f.base + strings.Join(parts, "/") }

func (f *fixture) create(key, value string) int64 {
	f.t.Helper()
	rev, err := f.store.Create(f.ctx, key, []byte(value))
	if err != nil {
		f.t.Fatalf("Create(%q): %v", key, err)
	}
	return rev
}

func (f *fixture) update(key, value string, expected int64) int64 {
	f.t.Helper()
	rev, err := f.store.Update(f.ctx, key, []byte(value), expected)
	if err != nil {
		f.t.Fatalf("Update(%q, at %d): %v", key, expected, err)
	}
	return rev
}

func (f *fixture) delete(key string, expected int64) (storage.KeyValue, int64) {
	f.t.Helper()
	kv, rev, err := f.store.Delete(f.ctx, key, expected)
	if err != nil {
		f.t.Fatalf("Delete(%q, at %d): %v", key, expected, err)
	}
	return kv, rev
}

func (f *fixture) list(prefix string, opts storage.ListOptions) storage.ListResult {
	f.t.Helper()
	result, err := f.store.List(f.ctx, prefix, opts)
	if err != nil {
		f.t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
	}
	return result
}

func (f *fixture) currentRevision() int64 {
	f.t.Helper()
	rev, err := f.store.CurrentRevision(f.ctx)
	if err != nil {
		f.t.Fatalf("CurrentRevision: %v", err)
	}
	return rev
}

func (f *fixture) watch(prefix string, from int64, progress bool) storage.Watch {
	f.t.Helper()
	w, err := f.store.Watch(f.ctx, prefix, from, progress)
	if err != nil {
		f.t.Fatalf("Watch(%q, from %d): %v", prefix, from, err)
	}
	f.t.Cleanup(w.Stop)
	return w
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// nextEvent returns the next key event of w, failing on a closed stream, a timeout, or a
// progress event (callers that want those use nextAny).
func nextEvent(t *testing.T, w storage.Watch) storage.Event {
	t.Helper()
	ev := nextAny(t, w)
	if ev.Type == storage.EventProgress {
		t.Fatalf("unexpected progress event at %d on a watch without progress", ev.Revision)
	}
	return ev
}

func nextAny(t *testing.T, w storage.Watch) storage.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch ended early: %v", w.Err())
		}
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within %s", waitTimeout)
	}
	return storage.Event{}
}

// waitClosed waits for w's stream to end and returns Err.
func waitClosed(t *testing.T, w storage.Watch) error {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return w.Err()
			}
		case <-timer.C:
			t.Fatalf("watch still open after %s", waitTimeout)
		}
	}
}

// wantEvent checks one delivered event against what a write returned.
func wantEvent(t *testing.T, got storage.Event, typ storage.EventType, key, value string, revision int64) {
	t.Helper()
	if got.Type != typ || got.KV.Key != key || string(got.KV.Value) != value || got.Revision != revision || got.KV.ModRevision != revision {
		t.Fatalf("event = {type %d key %q value %q rev %d modrev %d}, want {type %d key %q value %q rev %d}",
			got.Type, got.KV.Key, got.KV.Value, got.Revision, got.KV.ModRevision, typ, key, value, revision)
	}
}

func keysOf(items []storage.KeyValue) []string {
	keys := make([]string, len(items))
	for i, kv := range items {
		keys[i] = kv.Key
	}
	return keys
}
