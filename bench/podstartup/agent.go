package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

const (
	namespace  = "default"
	benchLabel = "berth-bench"
	appImage   = "app:0.3.2"
	busybox    = "busybox:1.35"
)

// sidecarCommand sleeps and exits at once on SIGTERM (a plain `sleep` as PID 1 ignores
// it and would hold every delete for the grace period).
var sidecarCommand = []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}

// benchPod is the 2-container pod of examples/02-pod-sidecar.yaml's shape with the
// in-repo images: the app and a busybox sidecar.
func benchPod(name, phase string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{benchLabel: phase}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(2)),
			Containers: []corev1.Container{
				{Name: "app", Image: appImage},
				{Name: "sidecar", Image: busybox, Command: sidecarCommand},
			},
		},
	}
}

// podTimes is what the watch saw of one pod, as times since the tracker's epoch.
type podTimes struct {
	bound, running, ready time.Time
	deleted               time.Time
}

// tracker records, from one watch of the phase's pods, when each pod was bound, became
// Running, became Running and Ready, and was deleted.
type tracker struct {
	mu      sync.Mutex
	pods    map[string]*podTimes
	changed chan struct{} // closed and replaced at every change
	err     error
}

// track starts a watch of the pods labelled with phase; it runs until ctx ends.
func (l *lab) track(ctx context.Context, phase string) (*tracker, error) {
	w, err := l.client.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{LabelSelector: benchLabel + "=" + phase})
	if err != nil {
		return nil, err
	}
	t := &tracker{pods: map[string]*podTimes{}, changed: make(chan struct{})}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			now := time.Now()
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				if ev.Type == watch.Error {
					t.fail(fmt.Errorf("watch: %v", apierrors.FromObject(ev.Object)))
					return
				}
				continue
			}
			t.observe(pod, ev.Type, now)
		}
		if ctx.Err() == nil {
			t.fail(errors.New("watch closed"))
		}
	}()
	return t, nil
}

func (t *tracker) observe(pod *corev1.Pod, typ watch.EventType, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.pods[pod.Name]
	if pt == nil {
		pt = &podTimes{}
		t.pods[pod.Name] = pt
	}
	if pt.bound.IsZero() && pod.Spec.NodeName != "" {
		pt.bound = now
	}
	if pt.running.IsZero() && pod.Status.Phase == corev1.PodRunning {
		pt.running = now
	}
	if pt.ready.IsZero() && runningAndReady(pod) {
		pt.ready = now
	}
	if typ == watch.Deleted {
		pt.deleted = now
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *tracker) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait blocks until cond holds for the pod's times, the watch fails or ctx ends.
func (t *tracker) wait(ctx context.Context, name string, cond func(podTimes) bool) (podTimes, error) {
	for {
		t.mu.Lock()
		var pt podTimes
		if p := t.pods[name]; p != nil {
			pt = *p
		}
		changed, err := t.changed, t.err
		t.mu.Unlock()
		if cond(pt) {
			return pt, nil
		}
		if err != nil {
			return pt, err
		}
		select {
		case <-ctx.Done():
			return pt, fmt.Errorf("pod %s: %w", name, ctx.Err())
		case <-changed:
		}
	}
}

func runningAndReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// agentStart is one pod's start through the API and the agent.
type agentStart struct {
	bound, running, ready time.Duration // since its create call began
}

// startPods creates the pods at once (one goroutine each) and waits until every one is
// Running and Ready; each pod's times count from its own create call.
func (l *lab) startPods(ctx context.Context, t *tracker, names []string, phase string) ([]agentStart, error) {
	out := make([]agentStart, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if _, err := l.client.CoreV1().Pods(namespace).Create(ctx, benchPod(name, phase), metav1.CreateOptions{}); err != nil {
				errs[i] = err
				return
			}
			pt, err := t.wait(ctx, name, func(pt podTimes) bool { return !pt.ready.IsZero() })
			if err != nil {
				errs[i] = fmt.Errorf("pod %s not Running and Ready: %w", name, err)
				return
			}
			out[i] = agentStart{bound: pt.bound.Sub(start), running: pt.running.Sub(start), ready: pt.ready.Sub(start)}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// deletePods deletes the pods and waits until the API has none of them (the agent
// stopped and removed everything and deleted them for good); it returns each one's time.
func (l *lab) deletePods(ctx context.Context, t *tracker, names []string) ([]time.Duration, error) {
	out := make([]time.Duration, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if err := l.client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs[i] = err
				return
			}
			pt, err := t.wait(ctx, name, func(pt podTimes) bool { return !pt.deleted.IsZero() })
			if err != nil {
				errs[i] = fmt.Errorf("pod %s not gone: %w", name, err)
				return
			}
			out[i] = pt.deleted.Sub(start)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
