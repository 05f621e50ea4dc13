package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/internal/stream"
	"github.com/berth/berth/internal/storage/memory"
)

// TestWatchCompactedMidStream covers what the shared suite cannot make happen on etcd at
// will: a watcher falls behind, the history it still needs is compacted, and the stream
// ends with ErrCompacted after delivering what it had already taken.
func TestWatchCompactedMidStream(t *testing.T) {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	w, err := store.Watch(ctx, "/registry/pods/", 0, false)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(w.Stop)

	// More writes than the stream buffers: the watcher blocks with a batch in hand.
	writes := stream.Buffer + 10
	for i := range writes {
		if _, err := store.Create(ctx, fmt.Sprintf("/registry/pods/default/p%03d", i), []byte("x")); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	waitFor(t, "the stream buffer to fill", func() bool { return len(w.Events()) == stream.Buffer })
	// Writes the blocked watcher has (most likely) not taken yet, then compact them away.
	const late = 3
	var last int64
	for i := range late {
		if last, err = store.Create(ctx, fmt.Sprintf("/registry/pods/default/late%d", i), []byte("x")); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	if err := store.Compact(ctx, last); err != nil {
		t.Fatalf("Compact: %v", err)
	}

	// The stream delivers, in order, what it had taken before the compaction — at least
	// the full buffer; the watcher may have taken its next batch just after the buffer
	// filled and after the first late writes — and then ends with ErrCompacted.
	delivered := 0
	var prev int64
	for ev := range w.Events() {
		if ev.Revision <= prev {
			t.Fatalf("event %d has revision %d after %d", delivered, ev.Revision, prev)
		}
		prev = ev.Revision
		delivered++
	}
	if !errors.Is(w.Err(), storage.ErrCompacted) {
		t.Fatalf("watch ended with %v after %d events, want ErrCompacted", w.Err(), delivered)
	}
	if delivered < stream.Buffer || delivered >= writes+late {
		t.Fatalf("delivered %d events before the compaction error, want %d..%d", delivered, stream.Buffer, writes+late-1)
	}
}

// TestWatchBeyondHistoryLimit checks that a bounded history answers like a compaction.
func TestWatchBeyondHistoryLimit(t *testing.T) {
	ctx := context.Background()
	store := memory.New(memory.Options{HistoryLimit: 5})
	t.Cleanup(func() { _ = store.Close() })
	first, err := store.Create(ctx, "/registry/pods/a", []byte("0"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	rev := first
	for i := range 10 {
		if rev, err = store.Update(ctx, "/registry/pods/a", []byte(fmt.Sprint(i)), rev); err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	if _, err := store.Watch(ctx, "/registry/pods/", first, false); !errors.Is(err, storage.ErrCompacted) {
		t.Fatalf("Watch from before the kept history: %v, want ErrCompacted", err)
	}
	w, err := store.Watch(ctx, "/registry/pods/", rev-5, false)
	if err != nil {
		t.Fatalf("Watch within the kept history: %v", err)
	}
	defer w.Stop()
	for want := rev - 4; want <= rev; want++ {
		select {
		case ev := <-w.Events():
			if ev.Revision != want {
				t.Fatalf("event at %d, want %d", ev.Revision, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event for revision %d", want)
		}
	}
}

// TestValuesAreCopied checks that callers cannot change stored bytes through slices.
func TestValuesAreCopied(t *testing.T) {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	value := []byte("original")
	if _, err := store.Create(ctx, "/registry/pods/a", value); err != nil {
		t.Fatalf("Create: %v", err)
	}
	value[0] = 'X'
	got, _ := store.Get(ctx, "/registry/pods/a")
	got.Value[1] = 'Y'
	again, _ := store.Get(ctx, "/registry/pods/a")
	if string(again.Value) != "original" {
		t.Fatalf("stored value changed to %q", again.Value)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-ticker.C
	}
}
