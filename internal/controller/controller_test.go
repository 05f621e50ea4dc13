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
