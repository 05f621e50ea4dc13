package stream

import (
	"context"
	"sync"

	"github.com/berth/berth/internal/storage"
)

// Buffer is how many events may wait for a slow reader before the producer blocks.
const Buffer = 128

// Stream is a storage.Watch. The producer calls Send for each event and Finish once.
type Stream struct {
	events chan storage.Event
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	err        error
	stopCalled bool
}

var _ storage.Watch = (*Stream)(nil)

// New returns a Stream whose Stop calls cancel, which must end the producer's context.
func New(cancel context.CancelFunc) *Stream {
	return &Stream{
		events: make(chan storage.Event, Buffer),
		cancel: cancel,
		done:   make(chan struct{}),
	}
}

// Events implements storage.Watch.
func (s *Stream) Events() <-chan storage.Event { return s.events }

// Err implements storage.Watch.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stop implements storage.Watch: it ends the watch and waits until Events is closed.
func (s *Stream) Stop() {
	s.mu.Lock()
	s.stopCalled = true
	s.mu.Unlock()
	s.cancel()
	<-s.done
}

// Stopped reports whether the watcher called Stop.
func (s *Stream) Stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopCalled
}

// Send delivers ev, or returns false when ctx ends first.
func (s *Stream) Send(ctx context.Context, ev storage.Event) bool {
	select {
	case s.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// Finish records why the watch ended and closes Events. Call it once, from the producer.
func (s *Stream) Finish(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.events)
	close(s.done)
}
