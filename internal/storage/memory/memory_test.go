package memory_test

import (
	"testing"

	"github.com/berth/berth/internal/storage"
	"github.com/berth/berth/internal/storage/memory"
	"github.com/berth/berth/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Interface {
		store := memory.New(memory.Options{})
		t.Cleanup(func() { _ = store.Close() })
		return store
	})
}
