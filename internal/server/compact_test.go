package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/memory"
)

func TestCompactorKeepsOneIntervalOfHistory(t *testing.T) {
	ctx := context.Background()
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	c := &compactor{store: store, interval: time.Hour, log: slog.New(slog.DiscardHandler)}

	write := func(i int) int64 {
		t.Helper()
		rev, err := store.Create(ctx, fmt.Sprintf("/registry/things/%d", i), []byte("v"))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		return rev
	}
	readable := func(rev int64) bool {
		t.Helper()
		_, err := store.List(ctx, "/registry/things/", storage.ListOptions{Revision: rev})
		if err != nil && !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("list at %d: %v", rev, err)
		}
		return err == nil
	}

	first := write(1)
	mark := c.tick(ctx, 0) // first tick: remembers the revision, compacts nothing
	if !readable(first) {
		t.Fatalf("first tick compacted revision %d", first)
	}
	second := write(2)
	next := c.tick(ctx, mark) // compacts to the revision of the first tick
	if readable(first - 1) {
		t.Errorf("revision %d still readable after compacting to %d", first-1, mark)
	}
	if !readable(second) {
		t.Errorf("revision %d, written after the previous tick, was compacted", second)
	}
	if next <= mark {
		t.Errorf("next compaction revision %d not after %d", next, mark)
	}
	// Compacting again to a revision already compacted is not an error.
	if got := c.tick(ctx, mark); got != next {
		t.Errorf("tick after repeat = %d, want %d", got, next)
	}
}

func TestCompactorRunStopsWithContext(t *testing.T) {
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	c := &compactor{store: store, interval: time.Millisecond, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx)
	}()
	for i := 0; ; i++ {
		if _, err := store.Create(ctx, fmt.Sprintf("/registry/things/%d", i), []byte("v")); err != nil {
			t.Fatalf("create: %v", err)
		}
		// Wait for a compaction to happen: a watch from revision 1 is then compacted.
		w, err := store.Watch(ctx, "/registry/things/", 1, false)
		if errors.Is(err, storage.ErrCompacted) {
			break
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		w.Stop()
		if i > 100000 {
			t.Fatal("no compaction happened")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
