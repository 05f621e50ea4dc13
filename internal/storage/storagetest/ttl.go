package storagetest

import (
	"time"

	"github.com/berth/berth/internal/storage"
)

// ttl is short, so the cases run in seconds; etcd counts leases in whole seconds and
// its minimum is a second or more, so keys may live a little over two.
const ttl = time.Second

// A key written with a TTL is deleted once it is up, with a delete event; a key beside
// it without one stays; a bad TTL is a bad request.
func testTTLExpires(f *fixture) {
	t := f.t
	prefix := f.key("events", "default") + "/"
	w := f.watch(prefix, 0, false)
	short, keep := prefix+"short", prefix+"keep"
	start := time.Now()
	rev, err := f.store.CreateWithTTL(f.ctx, short, []byte("v1"), ttl)
	if err != nil {
		t.Fatalf("CreateWithTTL: %v", err)
	}
	keepRev := f.create(keep, "stays")
	wantEvent(t, nextEvent(t, w), storage.EventPut, short, "v1", rev)
	wantEvent(t, nextEvent(t, w), storage.EventPut, keep, "stays", keepRev)
	ev := nextEvent(t, w)
	lived := time.Since(start)
	if ev.Type != storage.EventDelete || ev.KV.Key != short || string(ev.KV.Value) != "v1" {
		t.Fatalf("after the TTL: event {type %d key %q value %q}, want the delete of %s", ev.Type, ev.KV.Key, ev.KV.Value, short)
	}
	if lived < ttl {
		t.Fatalf("key with TTL %s deleted after %s", ttl, lived)
	}
	_, err = f.store.Get(f.ctx, short)
	wantErr(t, "Get expired key", err, storage.ErrNotFound)
	if got, err := f.store.Get(f.ctx, keep); err != nil || string(got.Value) != "stays" {
		t.Fatalf("key without TTL: %+v, %v", got, err)
	}
	_, err = f.store.CreateWithTTL(f.ctx, prefix+"bad", []byte("x"), 0)
	wantErr(t, "CreateWithTTL with TTL 0", err, storage.ErrBadRequest)
	_, err = f.store.UpdateWithTTL(f.ctx, keep, []byte("x"), keepRev, -time.Second)
	wantErr(t, "UpdateWithTTL with a negative TTL", err, storage.ErrBadRequest)
}

// UpdateWithTTL restarts a key's clock; a plain Update makes it permanent.
func testTTLUpdates(f *fixture) {
	t := f.t
	prefix := f.key("events", "default") + "/"
	renewed, permanent := prefix+"renewed", prefix+"permanent"
	w := f.watch(prefix, 0, false)
	r1, err := f.store.CreateWithTTL(f.ctx, renewed, []byte("v1"), ttl)
	if err != nil {
		t.Fatalf("CreateWithTTL: %v", err)
	}
	p1, err := f.store.CreateWithTTL(f.ctx, permanent, []byte("v1"), ttl)
	if err != nil {
		t.Fatalf("CreateWithTTL: %v", err)
	}
	p2 := f.update(permanent, "v2", p1)
	// A key renewed with a TTL ten times as long outlives the first TTL's expiry.
	start := time.Now()
	r2, err := f.store.UpdateWithTTL(f.ctx, renewed, []byte("v2"), r1, 10*ttl)
	if err != nil {
		t.Fatalf("UpdateWithTTL: %v", err)
	}
	for _, want := range []struct {
		key string
		rev int64
	}{{renewed, r1}, {permanent, p1}, {permanent, p2}, {renewed, r2}} {
		if ev := nextEvent(t, w); ev.Type != storage.EventPut || ev.KV.Key != want.key || ev.Revision != want.rev {
			t.Fatalf("event {type %d key %q rev %d}, want the put of %s at %d", ev.Type, ev.KV.Key, ev.Revision, want.key, want.rev)
		}
	}
	// Wait past the first TTL and its slack: nothing may be deleted.
	wait := ttl + storage.MaxTTLSlack(ttl) + 2*time.Second
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case ev := <-w.Events():
		if time.Since(start) < 10*ttl {
			t.Fatalf("unexpected event {type %d key %q} %s after the updates", ev.Type, ev.KV.Key, time.Since(start))
		}
	case <-timer.C:
	}
	for _, key := range []string{renewed, permanent} {
		if _, err := f.store.Get(f.ctx, key); err != nil {
			t.Fatalf("Get %s after %s: %v", key, wait, err)
		}
	}
}
