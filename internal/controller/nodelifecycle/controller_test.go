package nodelifecycle

import (
	"context"
	"log/slog"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/berth/berth/internal/podutil"
)

type harness struct {
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	events *record.FakeRecorder
	c      *Controller
}

// startController runs the controller on a fake clientset and a fake clock.
func startController(t *testing.T, grace time.Duration, objects ...any) *harness {
	t.Helper()
	h := &harness{client: fake.NewClientset(), clock: clocktesting.NewFakeClock(t0), events: record.NewFakeRecorder(1000)}
	ctx, cancel := context.WithCancel(context.Background())
	for _, o := range objects {
		var err error
		switch o := o.(type) {
		case *corev1.Node:
			_, err = h.client.CoreV1().Nodes().Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Pod:
			_, err = h.client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *coordinationv1.Lease:
			_, err = h.client.CoordinationV1().Leases(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f := informers.NewSharedInformerFactory(h.client, 0)
	c, err := NewController(clientAPI{h.client}, f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods(),
		Config{Grace: grace, OrphanQuarantine: time.Minute, Clock: h.clock, Recorder: h.events,
			Log: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	f.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		<-done
		f.Shutdown()
	})
	f.WaitForCacheSync(ctx.Done())
	return h
}

// leaseRenewSeen returns the last lease renewTime the controller observed for node.
func (h *harness) leaseRenewSeen(node string) time.Time {
	h.c.health.mu.Lock()
	defer h.c.health.mu.Unlock()
	if nh, ok := h.c.health.nodes[node]; ok {
		return nh.leaseRenew
	}
	return time.Time{}
}

func readyNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(t0)},
	}}}
}

func nodeLease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

func boundPod(name, node string, tolerationSeconds *int64) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if tolerationSeconds != nil {
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: tolerationSeconds}}
	}
	return p
}

func (h *harness) node(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n, err := h.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (h *harness) pod(t *testing.T, name string) (*corev1.Pod, bool) {
	t.Helper()
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, true
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

// TestSilentNodeLifecycle walks one node through the whole story on a fake clock: alive
// while its lease is renewed, Unknown and tainted when it stops, pods evicted by their
// tolerations, pods marked not ready, taints gone when the kubelet reports Ready again.
func TestSilentNodeLifecycle(t *testing.T) {
	grace := 40 * time.Second
	h := startController(t, grace,
		readyNode("n1"), nodeLease("n1", t0),
		boundPod("intolerant", "n1", nil),
		boundPod("tolerates-30s", "n1", ptr[int64](30)),
		boundPod("tolerates-forever", "n1", nil),
	)
	ctx := context.Background()
	waitFor(t, "node first observed", func() bool { return !h.leaseRenewSeen("n1").IsZero() })
	// "tolerates-forever" gets its toleration by update (the fake has no admission).
	p, _ := h.pod(t, "tolerates-forever")
	p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}
	if _, err := h.client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Renewed within the grace period: still Ready.
	h.clock.Step(30 * time.Second)
	if _, err := h.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, nodeLease("n1", h.clock.Now()), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lease renewal observed", func() bool { return h.leaseRenewSeen("n1").Equal(h.clock.Now()) })
	h.clock.Step(30 * time.Second) // 60 s after start, 30 s after the renewal
	if got := readyStatus(h.node(t, "n1")); got != corev1.ConditionTrue {
		t.Fatalf("node Ready = %s within the grace period after a renewal", got)
	}

	// Silence past the grace period from the last renewal.
	h.clock.Step(11 * time.Second)
	waitFor(t, "node Unknown with unreachable taints", func() bool {
		n := h.node(t, "n1")
		return readyStatus(n) == corev1.ConditionUnknown &&
			hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) && hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule)
	})
	waitFor(t, "intolerant pod evicted at once", func() bool { _, ok := h.pod(t, "intolerant"); return !ok })
	waitFor(t, "tolerating pods marked not ready", func() bool {
		p, _ := h.pod(t, "tolerates-30s")
		q, _ := h.pod(t, "tolerates-forever")
		return readyFalse(p) && readyFalse(q)
	})
	if _, ok := h.pod(t, "tolerates-30s"); !ok {
		t.Fatal("pod with a 30 s toleration evicted early")
	}
	h.clock.Step(31 * time.Second)
	waitFor(t, "30 s toleration ran out", func() bool { _, ok := h.pod(t, "tolerates-30s"); return !ok })
	if _, ok := h.pod(t, "tolerates-forever"); !ok {
		t.Fatal("pod tolerating forever was evicted")
	}

	// The kubelet comes back and reports Ready: taints go.
	n := h.node(t, "n1")
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(h.clock.Now())}}
	if _, err := h.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "taints removed after recovery", func() bool { return len(h.node(t, "n1").Spec.Taints) == 0 })
	assertEvent(t, h.events, "NodeNotReady")
}

func TestPodsOfDeletedNodeAreCollected(t *testing.T) {
	h := startController(t, time.Minute, readyNode("n1"), nodeLease("n1", t0), boundPod("p1", "n1", nil), boundPod("ghost", "never-registered", nil))
	ctx := context.Background()
	if err := h.client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod of the deleted node deleted", func() bool { _, ok := h.pod(t, "p1"); return !ok })
	if _, ok := h.pod(t, "ghost"); !ok {
		t.Fatal("pod of a never-seen node deleted before the quarantine")
	}
	waitFor(t, "missing node noticed", func() bool {
		h.c.missingMu.Lock()
		defer h.c.missingMu.Unlock()
		_, ok := h.c.missing["never-registered"]
		return ok
	})
	h.clock.Step(61 * time.Second)
	waitFor(t, "pod of a never-seen node deleted after the quarantine", func() bool { _, ok := h.pod(t, "ghost"); return !ok })
}

func TestCordonTaint(t *testing.T) {
	n := readyNode("n1")
	n.Spec.Unschedulable = true
	h := startController(t, time.Minute, n, nodeLease("n1", t0))
	waitFor(t, "unschedulable taint", func() bool {
		return hasTaint(h.node(t, "n1"), corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	})
}

func assertEvent(t *testing.T, events *record.FakeRecorder, reason string) {
	t.Helper()
	for {
		select {
		case e := <-events.Events:
			if contains(e, reason) {
				return
			}
		default:
			t.Fatalf("no %s event recorded", reason)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		<-tick.C
	}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// readyFalse reports whether the pod's Ready condition is there and False.
func readyFalse(pod *corev1.Pod) bool {
	c := podutil.ReadyCondition(pod)
	return c != nil && c.Status == corev1.ConditionFalse
}
