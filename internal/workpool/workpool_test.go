package workpool

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// goroutineID is the number runtime.Stack prints for the calling goroutine.
func goroutineID(t *testing.T) string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, ok := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	if !ok {
		t.Fatalf("unexpected stack header %q", buf)
	}
	return id
}

func TestRunWaitsAndReusesWorkers(t *testing.T) {
	p := New(2)
	const calls = 100
	ran := map[string]int{}
	for i := range calls {
		var id string
		if caught := p.Run(func() { id = goroutineID(t) }); caught != nil {
			t.Fatalf("call %d: unexpected panic %v", i, caught.Value)
		}
		if id == "" {
			t.Fatalf("call %d: Run returned before the call ran", i)
		}
		ran[id]++
	}
	// Calls one after another run on the same few workers (a worker may not be back
	// waiting when the next call comes, which then gets a second worker, or at worst a
	// goroutine of its own) — not on a new goroutine each.
	if len(ran) > 10 {
		t.Errorf("%d sequential calls ran on %d goroutines, want a few workers reused", calls, len(ran))
	}
	if n := p.workers.Load(); n < 1 || n > 2 {
		t.Errorf("workers = %d, want 1 or 2", n)
	}
}

func TestGoBeyondMaxStillRuns(t *testing.T) {
	p := New(2)
	const calls = 20
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(calls)
	done.Add(calls)
	for range calls {
		p.Go(func() {
			started.Done()
			<-release // every call is busy at once: 2 on workers, the rest on their own
			done.Done()
		})
	}
	started.Wait()
	if n := p.workers.Load(); n != 2 {
		t.Errorf("workers with %d busy calls = %d, want the maximum 2", calls, n)
	}
	close(release)
	done.Wait()
}

func TestRunReturnsPanic(t *testing.T) {
	p := New(1)
	boom := errors.New("boom")
	caught := p.Run(func() { panic(boom) })
	if caught == nil || caught.Value != boom {
		t.Fatalf("Run = %+v, want the panic value %v", caught, boom)
	}
	if len(caught.Stack) == 0 {
		t.Error("the panic's stack is empty")
	}
	// The worker survived its call's panic and serves the next.
	if caught := p.Run(func() {}); caught != nil {
		t.Fatalf("call after a panic: %v", caught.Value)
	}
	if n := p.workers.Load(); n != 1 {
		t.Errorf("workers = %d, want the 1 that recovered", n)
	}
}
