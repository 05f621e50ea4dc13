package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/berth/berth/internal/storage"
)

// Run runs the conformance suite against the backend newStore returns. newStore is called
// once per case; it may return a fresh store or one shared between cases (each case uses
// its own key prefix), and should register the store's Close with t.Cleanup. Backends are
// expected to send progress events within a few seconds on a watch asked for them.
func Run(t *testing.T, newStore func(t *testing.T) storage.Interface) {
	cases := []struct {
		name string
		run  func(f *fixture)
	}{
		{"CreateGetExists", testCreateGetExists},
		{"UpdateConflicts", testUpdateConflicts},
		{"DeleteUnconditional", testDeleteUnconditional},
		{"DeleteWithRevisionGuard", testDeleteWithRevisionGuard},
		{"ListOrdering", testListOrdering},
		{"ListBadRequests", testListBadRequests},
		{"ListPagingAtOneRevision", testListPaging},
		{"ListAtOldRevision", testListAtOldRevision},
		{"CompactionListAndWatch", testCompaction},
		{"ConcurrentWriters", testConcurrentWriters},
		{"WatchReplayFromRevision", testWatchReplay},
		{"WatchFromNow", testWatchFromNow},
		{"WatchPrefixIsolation", testWatchPrefixIsolation},
		{"WatchDeleteCarriesPrevValue", testWatchDelete},
		{"WatchProgress", testWatchProgress},
		{"WatchEndsOnContextCancel", testWatchContextCancel},
		{"WatchStop", testWatchStop},
		{"CloseEndsWatches", testCloseEndsWatches},
		{"TTLExpires", testTTLExpires},
		{"TTLUpdates", testTTLUpdates},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(newFixture(t, newStore))
		})
	}
}

func testCreateGetExists(f *fixture) {
	t := f.t
	key := f.key("pods", "default", "a")
	rev := f.create(key, "v1")
	if rev <= 0 {
		t.Fatalf("Create returned revision %d", rev)
	}
	got, err := f.store.Get(f.ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Key != key || string(got.Value) != "v1" || got.ModRevision != rev || got.CreateRevision != rev {
		t.Fatalf("Get = %+v, want value v1 at revision %d", got, rev)
	}
	_, err = f.store.Create(f.ctx, key, []byte("v2"))
	wantErr(t, "second Create", err, storage.ErrKeyExists)
	_, err = f.store.Get(f.ctx, f.key("pods", "default", "missing"))
	wantErr(t, "Get missing", err, storage.ErrNotFound)
	if current := f.currentRevision(); current < rev {
		t.Fatalf("CurrentRevision %d is below a write at %d", current, rev)
	}
	again, err := f.store.Get(f.ctx, key)
	if err != nil || string(again.Value) != "v1" {
		t.Fatalf("failed Create changed the key: %+v, %v", again, err)
	}
}

func testUpdateConflicts(f *fixture) {
	t := f.t
	key := f.key("pods", "default", "a")
	created := f.create(key, "v1")
	updated := f.update(key, "v2", created)
	if updated <= created {
		t.Fatalf("Update revision %d not after create %d", updated, created)
	}
	got, err := f.store.Get(f.ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(got.Value) != "v2" || got.ModRevision != updated || got.CreateRevision != created {
		t.Fatalf("Get = %+v, want v2 modified at %d created at %d", got, updated, created)
	}
	_, err = f.store.Update(f.ctx, key, []byte("stale"), created)
	wantErr(t, "Update at stale revision", err, storage.ErrConflict)
	_, err = f.store.Update(f.ctx, f.key("pods", "default", "missing"), []byte("x"), created)
	wantErr(t, "Update missing", err, storage.ErrNotFound)
	_, err = f.store.Update(f.ctx, f.key("pods", "default", "missing"), []byte("x"), 0)
	wantErr(t, "Update at revision 0", err, storage.ErrBadRequest)
	if _, err := f.store.Get(f.ctx, f.key("pods", "default", "missing")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a failed Update created a key: %v", err)
	}
	got, _ = f.store.Get(f.ctx, key)
	if string(got.Value) != "v2" {
		t.Fatalf("a conflicting Update changed the value to %q", got.Value)
	}
}

func testDeleteUnconditional(f *fixture) {
	t := f.t
	key := f.key("pods", "default", "a")
	created := f.create(key, "v1")
	deleted, rev := f.delete(key, 0)
	if rev <= created {
		t.Fatalf("Delete revision %d not after create %d", rev, created)
	}
	if deleted.Key != key || string(deleted.Value) != "v1" || deleted.ModRevision != created || deleted.CreateRevision != created {
		t.Fatalf("Delete returned %+v, want the stored v1 at %d", deleted, created)
	}
	_, err := f.store.Get(f.ctx, key)
	wantErr(t, "Get after Delete", err, storage.ErrNotFound)
	_, _, err = f.store.Delete(f.ctx, key, 0)
	wantErr(t, "second Delete", err, storage.ErrNotFound)
	// A deleted key can be created again, with a new create revision.
	recreated := f.create(key, "v2")
	got, _ := f.store.Get(f.ctx, key)
	if got.CreateRevision != recreated {
		t.Fatalf("recreated key has CreateRevision %d, want %d", got.CreateRevision, recreated)
	}
}

func testDeleteWithRevisionGuard(f *fixture) {
	t := f.t
	key := f.key("pods", "default", "a")
	created := f.create(key, "v1")
	updated := f.update(key, "v2", created)
	_, _, err := f.store.Delete(f.ctx, key, created)
	wantErr(t, "Delete at stale revision", err, storage.ErrConflict)
	if _, err := f.store.Get(f.ctx, key); err != nil {
		t.Fatalf("a conflicting Delete removed the key: %v", err)
	}
	deleted, rev := f.delete(key, updated)
	if string(deleted.Value) != "v2" || deleted.ModRevision != updated || rev <= updated {
		t.Fatalf("Delete returned %+v at %d, want v2 at %d then a later revision", deleted, rev, updated)
	}
	_, _, err = f.store.Delete(f.ctx, key, updated)
	wantErr(t, "guarded Delete of a missing key", err, storage.ErrNotFound)
}

func testListOrdering(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	for _, name := range []string{"ns2/b", "ns1/c", "ns1/a", "ns10/a", "ns1/b"} {
		f.create(prefix+name, name)
	}
	// Neighbours of the prefix that must not show up.
	f.create(f.key("podsx", "ns1", "a"), "x")
	last := f.create(f.key("pods"), "x")

	result := f.list(prefix, storage.ListOptions{})
	want := []string{prefix + "ns1/a", prefix + "ns1/b", prefix + "ns1/c", prefix + "ns10/a", prefix + "ns2/b"}
	if got := keysOf(result.Items); !slices.Equal(got, want) {
		t.Fatalf("List keys = %q, want %q", got, want)
	}
	for _, kv := range result.Items {
		if string(kv.Value) != kv.Key[len(prefix):] || kv.ModRevision == 0 || kv.CreateRevision != kv.ModRevision {
			t.Fatalf("List item %+v has wrong value or revisions", kv)
		}
	}
	if result.More || result.Remaining != 0 {
		t.Fatalf("unpaged List says More=%v Remaining=%d", result.More, result.Remaining)
	}
	if result.Revision < last {
		t.Fatalf("List revision %d is before the last write %d", result.Revision, last)
	}
	empty := f.list(f.key("nothing")+"/", storage.ListOptions{})
	if len(empty.Items) != 0 || empty.More || empty.Revision < last {
		t.Fatalf("List of an empty prefix = %+v", empty)
	}
}

func testListBadRequests(f *fixture) {
	t := f.t
	_, err := f.store.List(f.ctx, "", storage.ListOptions{})
	wantErr(t, "List with empty prefix", err, storage.ErrBadRequest)
	_, err = f.store.List(f.ctx, f.key("pods")+"/", storage.ListOptions{StartAfter: f.key("other", "a")})
	wantErr(t, "List with StartAfter outside the prefix", err, storage.ErrBadRequest)
	_, err = f.store.List(f.ctx, f.key("pods")+"/", storage.ListOptions{Revision: f.currentRevision() + 1000})
	wantErr(t, "List at a future revision", err, storage.ErrFuture)
}

func testListPaging(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	var want []string
	for i := range 10 {
		key := fmt.Sprintf("%sdefault/pod-%02d", prefix, i)
		f.create(key, "v1")
		want = append(want, key)
	}
	first := f.list(prefix, storage.ListOptions{Limit: 3})
	if got := keysOf(first.Items); !slices.Equal(got, want[:3]) || !first.More || first.Remaining != 7 {
		t.Fatalf("first page = %q More=%v Remaining=%d, want %q More=true Remaining=7", got, first.More, first.Remaining, want[:3])
	}
	snapshot := first.Revision

	// Changes after the first page must not leak into later pages read at its revision.
	f.create(prefix+"default/pod-00a", "new")
	f.create(prefix+"default/pod-99", "new")
	current, err := f.store.Get(f.ctx, want[5])
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	f.update(want[5], "v2", current.ModRevision)
	f.delete(want[8], 0)

	got := keysOf(first.Items)
	page := first
	wantRemaining := []int64{4, 1, 0}
	for i := 0; page.More; i++ {
		page = f.list(prefix, storage.ListOptions{Limit: 3, Revision: snapshot, StartAfter: page.Items[len(page.Items)-1].Key})
		if page.Revision != snapshot {
			t.Fatalf("page %d read at revision %d, want %d", i+2, page.Revision, snapshot)
		}
		if i >= len(wantRemaining) {
			t.Fatalf("too many pages: %q", keysOf(page.Items))
		}
		if page.Remaining != wantRemaining[i] || page.More != (wantRemaining[i] > 0) {
			t.Fatalf("page %d More=%v Remaining=%d, want Remaining=%d", i+2, page.More, page.Remaining, wantRemaining[i])
		}
		for _, kv := range page.Items {
			if string(kv.Value) != "v1" {
				t.Fatalf("page %d shows %q=%q, a value written after the snapshot", i+2, kv.Key, kv.Value)
			}
		}
		got = append(got, keysOf(page.Items)...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages at one revision = %q, want %q", got, want)
	}
}

func testListAtOldRevision(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	a, b := prefix+"a", prefix+"b"
	createdA := f.create(a, "a1")
	createdB := f.create(b, "b1")
	updatedA := f.update(a, "a2", createdA)
	f.delete(b, createdB)
	f.create(prefix+"c", "c1")

	cases := []struct {
		revision int64
		want     map[string]string
	}{
		{createdA, map[string]string{a: "a1"}},
		{createdB, map[string]string{a: "a1", b: "b1"}},
		{updatedA, map[string]string{a: "a2", b: "b1"}},
		{0, map[string]string{a: "a2", prefix + "c": "c1"}},
	}
	for _, tc := range cases {
		result := f.list(prefix, storage.ListOptions{Revision: tc.revision})
		got := map[string]string{}
		for _, kv := range result.Items {
			got[kv.Key] = string(kv.Value)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Fatalf("List at %d = %v, want %v", tc.revision, got, tc.want)
		}
		if tc.revision != 0 && result.Revision != tc.revision {
			t.Fatalf("List at %d says revision %d", tc.revision, result.Revision)
		}
	}
}

func testCompaction(f *fixture) {
	t := f.t
	prefix := f.key("pods") + "/"
	key := prefix + "a"
	r1 := f.create(key, "v1")
	r2 := f.update(key, "v2", r1)
	r3 := f.update(key, "v3", r2)
	if err := f.store.Compact(f.ctx, r2); err != nil {
		t.Fatalf("Compact(%d): %v", r2, err)
	}

	_, err := f.store.List(f.ctx, prefix, storage.ListOptions{Revision: r1})
	wantErr(t, "List below the compaction point", err, storage.ErrCompacted)
	atCompaction := f.list(prefix, storage.ListOptions{Revision: r2})
	if len(atCompaction.Items) != 1 || string(atCompaction.Items[0].Value) != "v2" {
		t.Fatalf("List at the compaction point = %+v, want v2", atCompaction.Items)
	}

	// Watching from r1-1 needs the event at r1, which is gone.
	w, err := f.store.Watch(f.ctx, prefix, r1-1, false)
	if err == nil {
		t.Cleanup(w.Stop)
		err = waitClosed(t, w)
	}
	wantErr(t, "Watch from a compacted revision", err, storage.ErrCompacted)

	// Watching from r2-1 needs events from r2 on, which are kept.
	kept := f.watch(prefix, r2-1, false)
	wantEvent(t, nextEvent(t, kept), storage.EventPut, key, "v2", r2)
	wantEvent(t, nextEvent(t, kept), storage.EventPut, key, "v3", r3)

	err = f.store.Compact(f.ctx, r2)
	wantErr(t, "Compact at the compaction point again", err, storage.ErrCompacted)
	err = f.store.Compact(f.ctx, f.currentRevision()+1000)
	wantErr(t, "Compact in the future", err, storage.ErrFuture)
}

func testConcurrentWriters(f *fixture) {
	t := f.t
	const writers, increments = 20, 50
	key := f.key("counters", "c")
	f.create(key, "0")

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		revisions = map[int64]bool{}
		failures  []error
	)
	for range writers {
		wg.Go(func() {
			for range increments {
				rev, err := increment(f, key)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else if revisions[rev] {
					failures = append(failures, fmt.Errorf("two updates at revision %d", rev))
				}
				revisions[rev] = true
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d writers failed, first: %v", len(failures), failures[0])
	}
	got, err := f.store.Get(f.ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(got.Value) != strconv.Itoa(writers*increments) {
		t.Fatalf("counter = %s, want %d", got.Value, writers*increments)
	}
}

// increment adds one to the counter at key with optimistic concurrency, retrying conflicts.
func increment(f *fixture, key string) (int64, error) {
	for {
		current, err := f.store.Get(f.ctx, key)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(current.Value))
		if err != nil {
			return 0, err
		}
		rev, err := f.store.Update(f.ctx, key, []byte(strconv.Itoa(n+1)), current.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		return rev, err
	}
}
