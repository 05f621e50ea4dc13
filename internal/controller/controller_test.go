package controller

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

type loopFunc func(ctx context.Context) error

func (loopFunc) Name() string                    { return "test" }
func (f loopFunc) Run(ctx context.Context) error { return f(ctx) }

// TestRunLeaderElectedReleasesAfterLoopsStop: when ctx ends, the lease is released only
// once every loop has stopped (a standby must never run alongside them), and
// RunLeaderElected returns only then.
func TestRunLeaderElectedReleasesAfterLoopsStop(t *testing.T) {
	client := fake.NewClientset()
	var loopStopped atomic.Bool
	released := make(chan bool, 1) // whether the loop had stopped when the lease was released
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			select {
			case released <- loopStopped.Load():
			default:
			}
		}
		return false, nil, nil
	})
	cc := &Context{Client: client, Log: slog.New(slog.DiscardHandler)}
	running := make(chan struct{})
	loop := loopFunc(func(ctx context.Context) error {
		close(running)
		<-ctx.Done()
		// Stopping takes a while: long enough for an early release to show.
		select {
		case <-released:
			t.Error("lease released while a loop was still running")
		case <-time.After(500 * time.Millisecond):
		}
		loopStopped.Store(true)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunLeaderElected(ctx, cc, "test-lock", "me", func(*Context) ([]Runnable, error) { return []Runnable{loop}, nil })
	}()
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("not leading within 10s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunLeaderElected did not return within 10s of ctx ending")
	}
	if !loopStopped.Load() {
		t.Error("RunLeaderElected returned before its loops stopped")
	}
	select {
	case stopped := <-released:
		if !stopped {
			t.Error("lease released before the loops stopped")
		}
	default:
		t.Error("lease not released")
	}
	l, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(context.Background(), "test-lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := l.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("holder after stop = %q, want none", *h)
	}
}

// TestStandbyTakesOverAtRelease: a standby takes a released lease at once, not at its
// next retry (RetryPeriod or more later).
func TestStandbyTakesOverAtRelease(t *testing.T) {
	client := fake.NewClientset()
	cc := &Context{Client: client, Log: slog.New(slog.DiscardHandler)}
	gets := make(chan struct{}, 100)
	client.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case gets <- struct{}{}:
		default:
		}
		return false, nil, nil
	})
	type server struct {
		leading chan struct{}
		cancel  context.CancelFunc
		done    chan struct{}
	}
	start := func(identity string) *server {
		s := &server{leading: make(chan struct{}, 1), done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		loop := loopFunc(func(ctx context.Context) error {
			s.leading <- struct{}{}
			<-ctx.Done()
			return nil
		})
		go func() {
			defer close(s.done)
			if err := RunLeaderElected(ctx, cc, "test-lock", identity, func(*Context) ([]Runnable, error) { return []Runnable{loop}, nil }); err != nil {
				t.Error(err)
			}
		}()
		t.Cleanup(func() {
			cancel()
			<-s.done
		})
		return s
	}
	a := start("a")
	select {
	case <-a.leading:
	case <-time.After(10 * time.Second):
		t.Fatal("a not leading within 10s")
	}
	for len(gets) > 0 { // a's own
		<-gets
	}
	b := start("b")
	// Once b has tried (a leader renews without a get), it waits RetryPeriod or more.
	select {
	case <-gets:
	case <-time.After(10 * time.Second):
		t.Fatal("b did not try within 10s")
	}
	if got := holderOf(t, client); got != "a" {
		t.Fatalf("holder %q, want a", got)
	}
	a.cancel()
	<-a.done
	released := time.Now()
	select {
	case <-b.leading:
		t.Logf("b leads %s after a released the lease", time.Since(released).Round(time.Millisecond))
		if took := time.Since(released); took >= RetryPeriod {
			t.Errorf("b took %s to lead after the release, want less than a retry period (%s)", took, RetryPeriod)
		}
	case <-time.After(LeaseDuration):
		t.Fatalf("b not leading within %s of the release", LeaseDuration)
	}
}

func holderOf(t *testing.T, client *fake.Clientset) string {
	t.Helper()
	l, err := client.CoordinationV1().Leases(metav1.NamespaceSystem).Get(context.Background(), "test-lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestOwnClientThrottlesApart: a component's own client has a rate limiter of its own,
// so its writes do not spend the other controllers' budget (the scheduler's bindings
// and the ReplicaSet controller's creates each ran at half the shared limit).
func TestOwnClientThrottlesApart(t *testing.T) {
	cc, err := NewContext(&rest.Config{Host: "https://berth.invalid"}, slog.New(slog.DiscardHandler), Options{})
	if err != nil {
		t.Fatal(err)
	}
	own, err := cc.OwnClient()
	if err != nil {
		t.Fatal(err)
	}
	shared := cc.Client.CoreV1().RESTClient().GetRateLimiter()
	mine := own.CoreV1().RESTClient().GetRateLimiter()
	if shared == nil || mine == nil || shared == mine {
		t.Fatalf("rate limiters %p (shared) and %p (own): want two", shared, mine)
	}
	if mine.QPS() != shared.QPS() {
		t.Fatalf("own client's QPS %v, want the shared one's %v", mine.QPS(), shared.QPS())
	}
}
