// Package workpool runs short calls on long-lived goroutines.
//
// A new goroutine starts with a 2 KB stack. A call that goes deep — an API request
// through filters, decoding, admission, the field manager and storage — grows it four or
// five times over, and each growth copies the whole stack and walks every frame's tables
// to move its pointers. In the API server under load that was 5 % of all CPU, paid again
// by every request. A worker that has served one such call keeps its grown stack (the GC
// halves an idle stack at most once per cycle), so the next call on it grows little or
// not at all. gRPC's server offers the same for its streams (NumStreamWorkers).
package workpool

import (
	"runtime/debug"
	"sync/atomic"
)

// Pool hands calls to idle workers and starts a worker when none is idle, up to max;
// beyond that each call gets a goroutine of its own, as without a pool. Workers stay for
// the life of the process: max bounds them. The zero Pool is not usable: use New.
type Pool struct {
	work    chan func()
	max     int32
	workers atomic.Int32
}

// New returns a pool of at most max workers.
func New(max int) *Pool {
	return &Pool{work: make(chan func()), max: int32(max)}
}

// Go runs f on a worker, or on a goroutine of its own when every worker is busy. It does
// not wait for f. A panic in f is not recovered: it ends the process, as in a goroutine
// of its own.
func (p *Pool) Go(f func()) {
	select {
	case p.work <- f:
		return
	default:
	}
	if p.workers.Add(1) > p.max {
		p.workers.Add(-1)
		go f()
		return
	}
	go p.worker(f)
}

func (p *Pool) worker(f func()) {
	for {
		f()
		f = <-p.work
	}
}

// Panic is what Run reports of a call that panicked: the value and the stack where it
// happened (the worker's, which the caller's goroutine cannot see).
type Panic struct {
	Value any
	Stack []byte
}

// Run runs f on a worker and waits for it. A panic in f is recovered on the worker and
// returned, so that the caller can report or re-raise it on its own goroutine (a
// server's per-request recovery then still applies).
func (p *Pool) Run(f func()) *Panic {
	var (
		caught *Panic
		done   = make(chan struct{})
	)
	p.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				caught = &Panic{Value: v, Stack: debug.Stack()}
			}
			close(done)
		}()
		f()
	})
	<-done
	return caught
}
