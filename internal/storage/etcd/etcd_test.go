package etcd_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/etcd"
	"github.com/berth/berth/internal/storage/storagetest"
)

// testProgressInterval keeps progress events quick so the suite does not wait for them.
const testProgressInterval = 100 * time.Millisecond

// startEmbedded starts a member in dataDir. noFsync trades durability for speed in cases
// that do not restart the member.
func startEmbedded(t *testing.T, dataDir string, noFsync bool) *etcd.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	embedded, err := etcd.StartEmbedded(ctx, etcd.Config{
		DataDir:       dataDir,
		UnsafeNoFsync: noFsync,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	return embedded
}

func TestConformanceEmbedded(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Interface {
		embedded := startEmbedded(t, t.TempDir(), true)
		store := etcd.New(embedded.Client(), etcd.Options{ProgressInterval: testProgressInterval})
		t.Cleanup(func() {
			_ = store.Close()
			if err := embedded.Close(); err != nil {
				t.Errorf("Embedded.Close: %v", err)
			}
		})
		return store
	})
}

// TestEmbeddedRestartKeepsWrites checks that every acknowledged write survives Close and a
// start on the same data dir.
func TestEmbeddedRestartKeepsWrites(t *testing.T) {
	dataDir := t.TempDir()
	ctx := context.Background()
	embedded := startEmbedded(t, dataDir, false)
	store := etcd.New(embedded.Client(), etcd.Options{})
	var last int64
	for _, key := range []string{"/registry/pods/default/a", "/registry/pods/default/b"} {
		rev, err := store.Create(ctx, key, []byte(key))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		last = rev
	}
	_ = store.Close()
	if err := embedded.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	restarted := startEmbedded(t, dataDir, false)
	t.Cleanup(func() { _ = restarted.Close() })
	store = etcd.New(restarted.Client(), etcd.Options{})
	t.Cleanup(func() { _ = store.Close() })
	list, err := store.List(ctx, "/registry/pods/", storage.ListOptions{})
	if err != nil {
		t.Fatalf("List after restart: %v", err)
	}
	if len(list.Items) != 2 || list.Revision != last {
		t.Fatalf("after restart: %d items at revision %d, want 2 at %d", len(list.Items), list.Revision, last)
	}
}

// TestUnavailableAfterStop checks that a store whose etcd is gone answers ErrUnavailable.
func TestUnavailableAfterStop(t *testing.T) {
	embedded := startEmbedded(t, t.TempDir(), true)
	store := etcd.New(embedded.Client(), etcd.Options{})
	if err := embedded.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := store.Get(ctx, "/registry/pods/default/a")
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Get on a stopped etcd: %v, want ErrUnavailable", err)
	}
	_ = store.Close()
}

// TestEmbeddedStartTime reports how long a fresh single member takes to serve.
func TestEmbeddedStartTime(t *testing.T) {
	const runs = 5
	var total, worst time.Duration
	for range runs {
		dataDir := t.TempDir()
		start := time.Now()
		embedded := startEmbedded(t, dataDir, false)
		elapsed := time.Since(start)
		if err := embedded.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		total += elapsed
		worst = max(worst, elapsed)
	}
	t.Logf("StartEmbedded to ready: mean %s, worst %s over %d fresh starts", total/runs, worst, runs)
	if worst > time.Second {
		t.Errorf("StartEmbedded took %s, want well under 1s", worst)
	}
}
