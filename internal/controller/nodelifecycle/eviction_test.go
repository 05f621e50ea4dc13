package nodelifecycle

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

// flakyAPI answers the first pod status write with a Conflict (another writer got there
// first, as the node's agent or this controller's own markNotReady do) and keeps the pods
// it is asked to delete, as a graceful deletion does until the kubelet confirms.
type flakyAPI struct {
	clientAPI
	mu        sync.Mutex
	conflicts int
	deletes   int
}

func (a *flakyAPI) UpdatePodStatus(ctx context.Context, p *corev1.Pod) (*corev1.Pod, error) {
	a.mu.Lock()
	if a.conflicts > 0 {
		a.conflicts--
		a.mu.Unlock()
		return nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, p.Name, nil)
	}
	a.mu.Unlock()
	return a.clientAPI.UpdatePodStatus(ctx, p)
}

func (a *flakyAPI) DeletePod(context.Context, string, string, metav1.DeleteOptions) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deletes++
	return nil
}

// TestTaintEvictionEventRecordedOnce: a pod evicted from a NoExecute-tainted node gets one
// TaintManagerEviction event, as from Kubernetes' taint eviction controller — also when
// the first status write conflicts and the sync is retried, and when the pod comes back
// (its status write seen, its deletion not yet) before it is gone.
func TestTaintEvictionEventRecordedOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	node := readyNode("n1")
	node.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: t0}}}
	client := fake.NewClientset(node, boundPod("p", "n1", nil))
	f := informers.NewSharedInformerFactory(client, 0)
	api := &flakyAPI{clientAPI: clientAPI{client}, conflicts: 1}
	events := record.NewFakeRecorder(10)
	c, err := NewController(api, f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods(),
		Config{Clock: clocktesting.NewFakeClock(t0), Recorder: events})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		f.Shutdown()
	})
	f.WaitForCacheSync(ctx.Done())

	if err := c.syncPod(ctx, "default/p"); !apierrors.IsConflict(err) {
		t.Fatalf("first sync: got %v, want the status write's conflict", err)
	}
	if err := c.syncPod(ctx, "default/p"); err != nil { // the queue's retry
		t.Fatalf("retried sync: %v", err)
	}
	waitFor(t, "DisruptionTarget seen by the pod cache", func() bool {
		p, err := c.pods.Pods("default").Get("p")
		return err == nil && markedForTaintEviction(p)
	})
	if err := c.syncPod(ctx, "default/p"); err != nil { // requeued by the status write
		t.Fatalf("sync after the status write: %v", err)
	}

	close(events.Events)
	var evictions []string
	for e := range events.Events {
		if strings.Contains(e, "TaintManagerEviction") {
			evictions = append(evictions, e)
		}
	}
	if len(evictions) != 1 {
		t.Errorf("TaintManagerEviction events = %q, want exactly one", evictions)
	}
	if api.deletes == 0 {
		t.Error("pod never deleted")
	}
}
