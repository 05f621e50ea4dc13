package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/berth/berth/internal/storage"
)

// write is one change the watch cases make and expect to see again.
type write struct {
	typ      storage.EventType
	key      string
	value    string // the new value, or for a delete the value before it
	prev     string
	created  bool
	revision int64
}

// writeHistory makes a mix of creates, updates and deletes on a few keys under prefix and
// returns them in revision order.
func writeHistory(f *fixture, prefix string, rounds int) []write {
	var writes []write
	modRevision := map[string]int64{}
	values := map[string]string{}
	for round := range rounds {
		for _, name := range []string{"a", "b", "c"} {
			key := prefix + name
			value := fmt.Sprintf("%s-%d", name, round)
			switch rev, ok := modRevision[key]; {
			case !ok:
				newRev := f.create(key, value)
				writes = append(writes, write{storage.EventPut, key, value, "", true, newRev})
				modRevision[key], values[key] = newRev, value
			case round%3 == 2 && name != "a":
				_, newRev := f.delete(key, rev)
				writes = append(writes, write{storage.EventDelete, key, values[key], values[key], false, newRev})
				delete(modRevision, key)
			default:
				newRev := f.update(key, value, rev)
				writes = append(writes, write{storage.EventPut, key, value, values[key], false, newRev})
				modRevision[key], values[key] = newRev, value
			}
		}
	}
	return writes
}

// expectWrites reads one event per write from w and checks it matches, in order.
func expectWrites(t *testing.T, w storage.Watch, writes []write) {
	t.Helper()
	for i, want := range writes {
		got := nextEvent(t, w)
		wantEvent(t, got, want.typ, want.key, want.value, want.revision)
		if got.Created != want.created || string(got.PrevValue) != want.prev {
			t.Fatalf("event %d at %d: Created=%v PrevValue=%q, want Created=%v PrevValue=%q",
				i, got.Revision, got.Created, got.PrevValue, want.created, want.prev)
		}
	}
}

func testWatchReplay(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	start := f.currentRevision()
	history := writeHistory(f, prefix, 6)

	t.Run("FromStart", func(t *testing.T) {
		w := f.watch(prefix, start, false)
		expectWrites(t, w, history)
	})
	t.Run("FromMiddle", func(t *testing.T) {
		middle := len(history) / 2
		w := f.watch(prefix, history[middle-1].revision, false)
		expectWrites(t, w, history[middle:])
	})
	t.Run("ReplayThenLive", func(t *testing.T) {
		w := f.watch(prefix, start, false)
		expectWrites(t, w, history)
		live := f.create(prefix+"live", "x")
		wantEvent(t, nextEvent(t, w), storage.EventPut, prefix+"live", "x", live)
	})
}

func testWatchFromNow(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	before := f.create(prefix+"before", "x")
	w := f.watch(prefix, 0, false)
	// Written right after Watch returns: "from now" must not miss it.
	rev := f.create(prefix+"after", "y")
	got := nextEvent(t, w)
	if got.Revision <= before {
		t.Fatalf("watch from now replayed the write at %d", got.Revision)
	}
	wantEvent(t, got, storage.EventPut, prefix+"after", "y", rev)
	if !got.Created || got.KV.CreateRevision != rev {
		t.Fatalf("create event has Created=%v CreateRevision=%d", got.Created, got.KV.CreateRevision)
	}
}

func testWatchPrefixIsolation(f *fixture) {
	t := f.t
	pods := f.key("pods") + "/"
	w := f.watch(pods, 0, false)
	f.create(f.key("podsx", "default", "a"), "x")
	f.create(f.key("pods"), "x")
	f.create(f.key("pod"), "x")
	inside := f.create(pods+"default/a", "in")
	f.create(f.key("podsx", "default", "b"), "x")
	last := f.create(pods+"default/b", "in")
	// Events arrive in revision order, so a leaked neighbour would show up before these.
	wantEvent(t, nextEvent(t, w), storage.EventPut, pods+"default/a", "in", inside)
	wantEvent(t, nextEvent(t, w), storage.EventPut, pods+"default/b", "in", last)
}

func testWatchDelete(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	key := prefix + "a"
	created := f.create(key, "v1")
	updated := f.update(key, "v2", created)
	w := f.watch(prefix, updated, false)
	_, deletedAt := f.delete(key, 0)
	got := nextEvent(t, w)
	wantEvent(t, got, storage.EventDelete, key, "v2", deletedAt)
	if string(got.PrevValue) != "v2" || got.Created {
		t.Fatalf("delete event PrevValue=%q Created=%v, want v2 and false", got.PrevValue, got.Created)
	}
	if got.KV.CreateRevision != 0 && got.KV.CreateRevision != created {
		t.Fatalf("delete event CreateRevision=%d, want %d", got.KV.CreateRevision, created)
	}
}

func testWatchProgress(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	w := f.watch(prefix, 0, true)
	rev := f.create(prefix+"a", "x")
	// A write elsewhere: progress must still move the bookmark past it.
	elsewhere := f.create(f.key("other", "a"), "x")

	var last int64
	sawEvent := false
	for {
		ev := nextAny(t, w)
		if ev.Revision < last {
			t.Fatalf("event at %d after one at %d", ev.Revision, last)
		}
		last = ev.Revision
		if ev.Type != storage.EventProgress {
			wantEvent(t, ev, storage.EventPut, prefix+"a", "x", rev)
			sawEvent = true
			continue
		}
		if ev.Revision >= rev && !sawEvent {
			t.Fatalf("progress at %d before the event at %d was delivered", ev.Revision, rev)
		}
		if ev.Revision >= elsewhere {
			return
		}
	}
}

func testWatchContextCancel(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	ctx, cancel := context.WithCancel(f.ctx)
	w, err := f.store.Watch(ctx, prefix, 0, true)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(w.Stop)
	rev := f.create(prefix+"a", "x")
	for ev := nextAny(t, w); ev.Type == storage.EventProgress; ev = nextAny(t, w) {
		if ev.Revision >= rev {
			t.Fatalf("progress at %d before the event at %d", ev.Revision, rev)
		}
	}
	cancel()
	if err := waitClosed(t, w); err != nil {
		t.Fatalf("watch ended by its context reports %v, want nil", err)
	}
}

func testWatchStop(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	w, err := f.store.Watch(f.ctx, prefix, 0, false)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	// Writes nobody reads must not keep Stop from returning.
	for i := range 5 {
		f.create(fmt.Sprintf("%s%d", prefix, i), "x")
	}
	w.Stop()
	if err := waitClosed(t, w); err != nil {
		t.Fatalf("stopped watch reports %v, want nil", err)
	}
	w.Stop() // a second Stop is harmless
}

func testCloseEndsWatches(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	w := f.watch(prefix, 0, true)
	if err := f.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErr(t, "watch ended by Close", waitClosed(t, w), storage.ErrUnavailable)
	_, err := f.store.Watch(f.ctx, prefix, 0, false)
	wantErr(t, "Watch after Close", err, storage.ErrUnavailable)
	if err := f.store.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
