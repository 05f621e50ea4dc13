package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/berth/berth/internal/scheduler/framework"
	st "github.com/berth/berth/internal/scheduler/schedulertest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func created(p *corev1.Pod, at time.Duration) *corev1.Pod {
	p.CreationTimestamp = metav1.NewTime(t0.Add(at))
	return p
}

func pop(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	if a, _, _, _ := q.Counts(); a == 0 {
		t.Fatalf("nothing active")
	}
	qp, err := q.Pop()
	if err != nil {
		t.Fatal(err)
	}
	return qp
}

func TestPopOrdersByPriorityThenCreation(t *testing.T) {
	q := New(clocktesting.NewFakeClock(t0))
	q.Add(created(st.Pod("default", "old-low").Priority(1).Obj(), 0))
	q.Add(created(st.Pod("default", "new-high").Priority(100).Obj(), 3*time.Second))
	q.Add(created(st.Pod("default", "old-high").Priority(100).Obj(), 2*time.Second))
	q.Add(created(st.Pod("default", "no-priority").Obj(), time.Second))
	var got []string
	for range 4 {
		got = append(got, pop(t, q).Pod.Name)
	}
	want := []string{"old-high", "new-high", "old-low", "no-priority"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestUnschedulableMovesOnlyOnRelevantEvents(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(clk)
	q.Add(st.Pod("default", "p").Obj())
	qp := pop(t, q)
	q.Requeue(qp, framework.EventNodeAdd|framework.EventNodeAllocatable)
	if _, _, u, _ := q.Counts(); u != 1 {
		t.Fatalf("want the pod parked as unschedulable")
	}
	q.MoveOnEvent(framework.EventPodAdd)
	if _, _, u, _ := q.Counts(); u != 1 {
		t.Fatalf("an unrelated event moved the pod")
	}
	q.MoveOnEvent(framework.EventNodeAdd)
	if _, b, u, _ := q.Counts(); u != 0 || b != 1 {
		t.Fatalf("want the pod in backoff after a node add (backoff %d, unschedulable %d)", b, u)
	}
}

func TestEventDuringAttemptIsNotLost(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(clk)
	q.Add(st.Pod("default", "p").Obj())
	qp := pop(t, q)
	q.MoveOnEvent(framework.EventNodeAdd) // a node arrives while the pod is being scheduled
	q.Requeue(qp, framework.EventNodeAdd)
	if _, b, u, _ := q.Counts(); b != 1 || u != 0 {
		t.Fatalf("want the pod retried after backoff, not parked (backoff %d, unschedulable %d)", b, u)
	}
}

func TestBackoffAndPeriodicFlush(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(clk)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { q.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	q.Add(st.Pod("default", "err").Obj())
	q.Requeue(pop(t, q), 0) // an error: retried after backoff
	q.Add(st.Pod("default", "stuck").Obj())
	q.Requeue(pop(t, q), framework.EventNodeAdd)

	// The timer loop runs on its own goroutine: poll its effect with a deadline.
	waitCounts := func(what string, active, unschedulable int) {
		t.Helper()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(5 * time.Second)
		for {
			a, _, u, _ := q.Counts()
			if a == active && u == unschedulable {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: active %d unschedulable %d, want %d %d", what, a, u, active, unschedulable)
			}
			<-tick.C
		}
	}
	waitCounts("before backoff ends", 0, 1)
	clk.Step(InitialBackoff)
	waitCounts("after backoff", 1, 1)
	clk.Step(UnschedulableTimeout)
	waitCounts("after the periodic flush", 2, 0)
}

func TestUpdateOfParkedPodRetriesIt(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	q := New(clk)
	p := st.Pod("default", "p").Obj()
	q.Add(p)
	q.Requeue(pop(t, q), framework.EventNodeAdd)
	status := p.DeepCopy()
	status.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.Update(status)
	if _, _, u, _ := q.Counts(); u != 1 {
		t.Fatalf("a status-only update moved the pod")
	}
	tolerating := p.DeepCopy()
	tolerating.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	q.Update(tolerating)
	if _, b, u, _ := q.Counts(); u != 0 || b != 1 {
		t.Fatalf("a spec update did not retry the pod")
	}
	q.Delete(p.UID)
	if a, b, u, f := q.Counts(); a+b+u+f != 0 {
		t.Fatalf("delete left the pod queued")
	}
}

func TestCloseWakesPop(t *testing.T) {
	q := New(clocktesting.NewFakeClock(t0))
	done := make(chan error)
	go func() { _, err := q.Pop(); done <- err }()
	q.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("Pop after Close: %v", err)
	}
}
