package endpoints_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/controller/endpointslice"
	"github.com/berth/berth/internal/server"
)

// startWithEndpointControllers starts an API server without the leader's loops and runs
// only the two endpoint controllers, with opts, so a test controls their tunables.
func startWithEndpointControllers(t *testing.T, opts controller.Options) kubernetes.Interface {
	t.Helper()
	return startWithLoops(t, opts, nil, endpointslice.New, endpointslice.NewEndpoints)
}

// startWithLoops starts an API server without the leader's loops and runs the given ones
// on a Context built with opts and then adjusted by adjust (when not nil).
func startWithLoops(t *testing.T, opts controller.Options, adjust func(*controller.Context),
	constructors ...func(*controller.Context) (controller.Runnable, error)) kubernetes.Interface {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", DisableAgent: true, DisableControllers: true,
		// The serviceaccount controller is not among the loops: pods are admitted without
		// a "default" ServiceAccount.
		DisableServiceAccountAdmission: true,
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	cc, err := controller.NewContext(srv.Loopback, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(cc)
	}
	var loops []controller.Runnable
	for _, construct := range constructors {
		loop, err := construct(cc)
		if err != nil {
			t.Fatal(err)
		}
		loops = append(loops, loop)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Go(func() { _ = loop.Run(ctx) })
	}
	cc.Informers.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		cc.Informers.Shutdown()
	})
	cfg := rest.CopyConfig(srv.Loopback)
	cfg.QPS, cfg.Burst = 5000, 5000
	return kubernetes.NewForConfigOrDie(cfg)
}

// parallel runs fn for 0..n-1 on 32 workers and fails the test on the first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func burstPod(i int) (string, string) {
	return fmt.Sprintf("p%04d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1)
}

func createBurstPod(ctx context.Context, client kubernetes.Interface, i int, ready bool) (*corev1.Pod, error) {
	name, ip := burstPod(i)
	return tryCreatePod(ctx, client, podSpec{name: name, ip: ip, ready: ready})
}

// markReady sets a pod's Ready condition, starting from the copy the test holds.
func markReady(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		_, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if latest, getErr := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); getErr == nil {
				pod = latest
			}
		}
		return err
	})
}

// sliceWrites watches the slices of a Service from rv and counts the writes until the
// slices it has seen hold want ready endpoints.
type sliceWrites struct {
	done   chan struct{}
	writes int
	err    error
}

func countSliceWrites(ctx context.Context, client kubernetes.Interface, service, rv string, wantReady int) (*sliceWrites, error) {
	w, err := client.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service, ResourceVersion: rv,
	})
	if err != nil {
		return nil, err
	}
	sw := &sliceWrites{done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		defer w.Stop()
		ready := map[string]int{}
		total := 0
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				sw.err = fmt.Errorf("watch event %s: %v", ev.Type, ev.Object)
				return
			}
			sw.writes++
			total -= ready[s.Name]
			ready[s.Name] = 0
			if ev.Type != watch.Deleted {
				for _, ep := range s.Endpoints {
					if ptr.Deref(ep.Conditions.Ready, false) {
						ready[s.Name]++
					}
				}
			}
			total += ready[s.Name]
			if total == wantReady {
				return
			}
		}
		sw.err = fmt.Errorf("watch ended after %d writes", sw.writes)
	}()
	return sw, nil
}

// TestBurstOfPodChangesIsBatched flips 1 000 pods to ready at once and counts the slice
// writes it takes to publish them: coalescing per Service bounds them far below one per
// pod change.
func TestBurstOfPodChangesIsBatched(t *testing.T) {
	const pods = 1000
	tests := []struct {
		name      string
		batch     time.Duration
		maxWrites int
		// overCapacity adds a 1 001st pod afterwards and checks the Endpoints truncation.
		overCapacity bool
	}{
		// Without a batch period only the workqueue's coalescing helps: bursts arriving
		// during a sync fold into the next one.
		{name: "no batch period", batch: 0, maxWrites: pods / 2},
		{name: "1s batch period", batch: time.Second, maxWrites: 60, overCapacity: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := startWithEndpointControllers(t, controller.Options{EndpointUpdatesBatchPeriod: tc.batch})
			ctx := context.Background()
			createService(t, client, "web")
			created := make([]*corev1.Pod, pods)
			parallel(t, pods, func(i int) (err error) {
				created[i], err = createBurstPod(ctx, client, i, false)
				return err
			})
			var rv string
			waitView(t, "1000 not-ready endpoints", "1000/0", func() string {
				list, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
				if err != nil {
					return err.Error()
				}
				rv = list.ResourceVersion
				total, ready := 0, 0
				for _, s := range list.Items {
					for _, ep := range s.Endpoints {
						total++
						if *ep.Conditions.Ready {
							ready++
						}
					}
				}
				return fmt.Sprintf("%d/%d", total, ready)
			})

			counter, err := countSliceWrites(ctx, client, "web", rv, pods)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			parallel(t, pods, func(i int) error { return markReady(ctx, client, created[i]) })
			flipped := time.Since(start)
			select {
			case <-counter.done:
			case <-time.After(timeout):
				t.Fatalf("slices never showed %d ready endpoints (%d writes seen)", pods, counter.writes)
			}
			if counter.err != nil {
				t.Fatal(counter.err)
			}
			t.Logf("%d pod changes in %v → %d slice writes, all ready after %v", pods, flipped.Round(time.Millisecond), counter.writes, time.Since(start).Round(time.Millisecond))
			if counter.writes > tc.maxWrites {
				t.Errorf("%d slice writes for %d pod changes, want at most %d", counter.writes, pods, tc.maxWrites)
			}
			if tc.overCapacity {
				checkOverCapacity(t, client)
			}
		})
	}
}

// checkOverCapacity: with 1 000 ready pods, one more makes the legacy Endpoints stop at
// 1 000 addresses and say so, while the slices hold every pod; removing it clears the mark.
func checkOverCapacity(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	if _, err := createBurstPod(ctx, client, 1000, true); err != nil {
		t.Fatal(err)
	}
	capacity := func() string {
		ep, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		n := 0
		for _, s := range ep.Subsets {
			n += len(s.Addresses) + len(s.NotReadyAddresses)
		}
		return fmt.Sprint(n, " ", ep.Annotations[corev1.EndpointsOverCapacity])
	}
	waitView(t, "truncated endpoints", "1000 truncated", capacity)
	waitView(t, "slices hold every pod", "1001 endpoints, none over 100 in a slice", func() string {
		n, over := 0, ""
		for _, s := range managedSlices(t, client, "web") {
			n += len(s.Endpoints)
			if len(s.Endpoints) > 100 {
				over = fmt.Sprintf(" (slice %s has %d)", s.Name, len(s.Endpoints))
			}
		}
		return fmt.Sprintf("%d endpoints, none over 100 in a slice%s", n, over)
	})

	name, _ := burstPod(1000)
	if err := client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	waitView(t, "endpoints back under capacity", "1000 ", capacity)
}
