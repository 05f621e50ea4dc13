package queue

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/berth/berth/internal/scheduler/framework"
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue closed")

// Tunables (kube-scheduler's defaults, except a shorter unschedulable flush: 60 s).
const (
	InitialBackoff = 1 * time.Second
	MaxBackoff     = 10 * time.Second
	// UnschedulableTimeout: a pod unschedulable this long is retried even without an event.
	UnschedulableTimeout = 60 * time.Second
	flushInterval        = 30 * time.Second
)

type place int

const (
	nowhere place = iota
	inActive
	inBackoff
	inUnschedulable
	inFlight
)

// QueuedPod is a pending pod and its scheduling history.
type QueuedPod struct {
	Pod *corev1.Pod
	// Attempts counts failed scheduling attempts (for backoff).
	Attempts int
	// Since is when the pod last entered the unschedulable set.
	Since        time.Time
	backoffUntil time.Time
	requeueOn    framework.Event
	// eventsInFlight collects events seen while the pod was being scheduled: its verdict
	// is based on an older snapshot, so they must not be lost.
	eventsInFlight framework.Event
	// specChanged: the pod itself changed while in flight.
	specChanged bool
	where       place
	index       int
}

// Queue is the scheduling queue. Safe for concurrent use.
type Queue struct {
	mu            sync.Mutex
	cond          *sync.Cond
	clock         clock.Clock
	active        activeHeap
	backoff       backoffHeap
	unschedulable map[types.UID]*QueuedPod
	inFlight      map[types.UID]*QueuedPod
	pods          map[types.UID]*QueuedPod
	closed        bool
	// kick wakes the timer loop when the backoff head may have changed.
	kick chan struct{}
}

// New returns an empty queue reading time from clk.
func New(clk clock.Clock) *Queue {
	q := &Queue{
		clock:         clk,
		unschedulable: map[types.UID]*QueuedPod{},
		inFlight:      map[types.UID]*QueuedPod{},
		pods:          map[types.UID]*QueuedPod{},
		kick:          make(chan struct{}, 1),
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add adds a new pending pod, or refreshes a known one.
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp := q.pods[pod.UID]; qp != nil {
		q.updateLocked(qp, pod)
		return
	}
	qp := &QueuedPod{Pod: pod}
	q.pods[pod.UID] = qp
	q.pushActiveLocked(qp)
}

// Update records a new version of a pending pod. A pod waiting as unschedulable whose
// spec or labels changed is tried again.
func (q *Queue) Update(pod *corev1.Pod) { q.Add(pod) }

func (q *Queue) updateLocked(qp *QueuedPod, pod *corev1.Pod) {
	changed := !equality.Semantic.DeepEqual(qp.Pod.Spec, pod.Spec) ||
		!equality.Semantic.DeepEqual(qp.Pod.Labels, pod.Labels)
	qp.Pod = pod
	switch qp.where {
	case inActive:
		heap.Fix(&q.active, qp.index)
	case inUnschedulable:
		if changed {
			delete(q.unschedulable, pod.UID)
			q.requeueLocked(qp)
		}
	case inFlight:
		qp.specChanged = qp.specChanged || changed
	}
}

// Delete forgets a pod (deleted, or bound by someone else).
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp := q.pods[uid]
	if qp == nil {
		return
	}
	switch qp.where {
	case inActive:
		heap.Remove(&q.active, qp.index)
	case inBackoff:
		heap.Remove(&q.backoff, qp.index)
	case inUnschedulable:
		delete(q.unschedulable, uid)
	case inFlight:
		delete(q.inFlight, uid)
	}
	qp.where = nowhere
	delete(q.pods, uid)
}

// Pop blocks until a pod is active (highest priority, then oldest) and returns it, now
// in flight: the caller ends the attempt with Done or Requeue.
func (q *Queue) Pop() (*QueuedPod, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, ErrClosed
	}
	qp := heap.Pop(&q.active).(*QueuedPod)
	qp.where, qp.eventsInFlight, qp.specChanged = inFlight, 0, false
	q.inFlight[qp.Pod.UID] = qp
	return qp, nil
}

// Done ends an attempt that placed the pod: the queue forgets it.
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp := q.pods[uid]; qp != nil && qp.where == inFlight {
		delete(q.inFlight, uid)
		delete(q.pods, uid)
		qp.where = nowhere
	}
}

// Requeue ends a failed attempt. requeueOn is the set of events that may help (0 for
// errors such as a failed binding, which are retried after backoff). If such an event
// happened during the attempt, or the pod changed, it is retried after backoff at once
// rather than parked.
func (q *Queue) Requeue(qp *QueuedPod, requeueOn framework.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.Pod.UID] != qp {
		return // deleted meanwhile
	}
	if qp.where == inFlight {
		delete(q.inFlight, qp.Pod.UID)
	} else if qp.where != nowhere {
		return // already requeued
	}
	qp.Attempts++
	backoff := InitialBackoff << min(qp.Attempts-1, 10)
	qp.backoffUntil = q.clock.Now().Add(min(backoff, MaxBackoff))
	if requeueOn == 0 || qp.specChanged || qp.eventsInFlight&requeueOn != 0 {
		q.requeueLocked(qp)
		return
	}
	qp.requeueOn = requeueOn
	qp.Since = q.clock.Now()
	qp.where = inUnschedulable
	q.unschedulable[qp.Pod.UID] = qp
}

// requeueLocked puts a pod into backoff, or active when its backoff is over.
func (q *Queue) requeueLocked(qp *QueuedPod) {
	if q.clock.Now().Before(qp.backoffUntil) {
		qp.where = inBackoff
		heap.Push(&q.backoff, qp)
		select {
		case q.kick <- struct{}{}:
		default:
		}
		return
	}
	q.pushActiveLocked(qp)
}

func (q *Queue) pushActiveLocked(qp *QueuedPod) {
	qp.where = inActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

// MoveOnEvent retries the unschedulable pods that ev may help, and notes ev for pods in
// flight.
func (q *Queue) MoveOnEvent(ev framework.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, qp := range q.inFlight {
		qp.eventsInFlight |= ev
	}
	for uid, qp := range q.unschedulable {
		if qp.requeueOn&ev != 0 {
			delete(q.unschedulable, uid)
			q.requeueLocked(qp)
		}
	}
}

// Run moves pods whose backoff ended to active and retries long-unschedulable pods,
// sleeping on a timer in between; it closes the queue when ctx ends.
func (q *Queue) Run(ctx context.Context) {
	defer q.Close()
	timer := q.clock.NewTimer(flushInterval)
	defer timer.Stop()
	nextFlush := q.clock.Now().Add(flushInterval)
	for {
		now := q.clock.Now()
		q.mu.Lock()
		for q.backoff.Len() > 0 && !now.Before(q.backoff[0].backoffUntil) {
			q.pushActiveLocked(heap.Pop(&q.backoff).(*QueuedPod))
		}
		if !now.Before(nextFlush) {
			q.flushUnschedulableLocked(now)
			nextFlush = now.Add(flushInterval)
		}
		wake := nextFlush
		if q.backoff.Len() > 0 && q.backoff[0].backoffUntil.Before(wake) {
			wake = q.backoff[0].backoffUntil
		}
		q.mu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
		// Measured from the clock now, not from the top of the loop: time may have moved
		// on since (a fake clock stepped, or a slow pass). What is already due is done at
		// once rather than waited for.
		d := wake.Sub(q.clock.Now())
		if d <= 0 {
			continue
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		case <-timer.C():
		}
	}
}

func (q *Queue) flushUnschedulableLocked(now time.Time) {
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.Since) >= UnschedulableTimeout {
			delete(q.unschedulable, uid)
			q.requeueLocked(qp)
		}
	}
}

// Close wakes Pop callers with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Counts reports how many pods are active, backing off, unschedulable and in flight.
func (q *Queue) Counts() (active, backoff, unschedulable, inFlight int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable), len(q.inFlight)
}

// activeHeap orders by priority (higher first), then creation time, then name.
type activeHeap []*QueuedPod

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	a, b := h[i].Pod, h[j].Pod
	if pa, pb := priority(a), priority(b); pa != pb {
		return pa > pb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
func (h activeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *activeHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(*h)
	*h = append(*h, qp)
}
func (h *activeHeap) Pop() any {
	old := *h
	qp := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return qp
}

// backoffHeap orders by end of backoff.
type backoffHeap []*QueuedPod

func (h backoffHeap) Len() int           { return len(h) }
func (h backoffHeap) Less(i, j int) bool { return h[i].backoffUntil.Before(h[j].backoffUntil) }
func (h backoffHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *backoffHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(*h)
	*h = append(*h, qp)
}
func (h *backoffHeap) Pop() any {
	old := *h
	qp := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return qp
}

func priority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}
