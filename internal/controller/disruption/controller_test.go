package disruption

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

type harness struct {
	client *fake.Clientset
	events *record.FakeRecorder
}

// start runs the controller on a fake clientset holding objects.
func start(t *testing.T, objects ...any) *harness {
	t.Helper()
	h := &harness{client: fake.NewClientset(), events: record.NewFakeRecorder(1000)}
	ctx, cancel := context.WithCancel(context.Background())
	for _, o := range objects {
		h.create(t, o)
	}
	f := informers.NewSharedInformerFactory(h.client, 0)
	c, err := NewController(Clients{Budgets: h.client.PolicyV1(), Pods: h.client.CoreV1()}, Informers{
		Budgets:                f.Policy().V1().PodDisruptionBudgets(),
		Pods:                   f.Core().V1().Pods(),
		ReplicaSets:            f.Apps().V1().ReplicaSets(),
		Deployments:            f.Apps().V1().Deployments(),
		ReplicationControllers: f.Core().V1().ReplicationControllers(),
	}, h.events, slog.New(slog.NewTextHandler(testLog{t}, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	f.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		<-done
		f.Shutdown()
	})
	return h
}

func (h *harness) create(t *testing.T, o any) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch o := o.(type) {
	case *corev1.Pod:
		_, err = h.client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *policyv1.PodDisruptionBudget:
		_, err = h.client.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *appsv1.ReplicaSet:
		_, err = h.client.AppsV1().ReplicaSets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *appsv1.Deployment:
		_, err = h.client.AppsV1().Deployments(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		t.Fatalf("cannot create %T", o)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// waitStatus polls the budget until ok accepts its status.
func (h *harness) waitStatus(t *testing.T, what string, ok func(policyv1.PodDisruptionBudgetStatus) bool) policyv1.PodDisruptionBudgetStatus {
	t.Helper()
	var last policyv1.PodDisruptionBudgetStatus
	err := pollUntil(func() bool {
		pdb, err := h.client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false
		}
		last = pdb.Status
		return ok(last)
	})
	if err != nil {
		t.Fatalf("timed out waiting for %s; status %+v", what, last)
	}
	return last
}

// pollUntil polls cond every 10 ms for up to 10 s.
func pollUntil(cond func() bool) error {
	return wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
}

func (h *harness) statusWrites() int {
	n := 0
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" && a.GetResource().Resource == "poddisruptionbudgets" {
			n++
		}
	}
	return n
}

func allowed(n int32) func(policyv1.PodDisruptionBudgetStatus) bool {
	return func(s policyv1.PodDisruptionBudgetStatus) bool {
		return s.DisruptionsAllowed == n && s.ObservedGeneration == 3
	}
}

func TestControllerFollowsPods(t *testing.T) {
	h := start(t, budget(minAvailable(intstr.FromInt32(2))), pod("a"), pod("b"), pod("c"), pod("other", func(p *corev1.Pod) { p.Labels = nil }))
	h.waitStatus(t, "one disruption allowed", allowed(1))
	pods := h.client.CoreV1().Pods("default")
	ctx := context.Background()

	// A pod losing readiness and a pod leaving the selector both reach the budget.
	b := pod("b", notReady)
	if _, err := pods.Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := h.waitStatus(t, "no disruption with a pod not ready", allowed(0))
	if s.CurrentHealthy != 2 || s.ExpectedPods != 3 {
		t.Fatalf("status = %+v", s)
	}
	other := pod("other")
	if _, err := pods.Update(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "relabelled pod selected", allowed(1))
	c := pod("c", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} })
	if _, err := pods.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "pod leaving the selector", allowed(0))

	// A change nothing counts does not write.
	writes := h.statusWrites()
	a := pod("a", func(p *corev1.Pod) { p.Annotations = map[string]string{"touched": "yes"} })
	if _, err := pods.Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil { // no longer selected
		t.Fatal(err)
	}
	pdbs := h.client.PolicyV1().PodDisruptionBudgets("default")
	pdb, _ := pdbs.Get(ctx, "web", metav1.GetOptions{})
	pdb.Labels = map[string]string{"resync": "please"}
	if _, err := pdbs.Update(ctx, pdb, metav1.UpdateOptions{}); err != nil { // synced, no change
		t.Fatal(err)
	}
	if _, err := pods.Update(ctx, pod("b"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "b ready again", allowed(1))
	if got := h.statusWrites() - writes; got != 1 {
		t.Fatalf("%d status writes, want 1 (only b's readiness changed the status)", got)
	}
}

func TestControllerFollowsScale(t *testing.T) {
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "deploy"},
		Spec: appsv1.DeploymentSpec{Replicas: ptrTo[int32](3)}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", UID: "rs-1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "deploy", Controller: ptrTo(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptrTo[int32](3)}}
	owned := func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Controller: ptrTo(true)}}
	}
	h := start(t, budget(maxUnavailable(intstr.FromString("50%"))), deploy, rs, pod("a", owned), pod("b", owned), pod("c", owned))
	s := h.waitStatus(t, "two disruptions allowed", allowed(2))
	if s.ExpectedPods != 3 || s.DesiredHealthy != 1 {
		t.Fatalf("status = %+v", s)
	}
	// Scaling the Deployment up changes what is expected before any pod exists.
	deploy.Spec.Replicas = ptrTo[int32](6)
	if _, err := h.client.AppsV1().Deployments("default").Update(context.Background(), deploy, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s = h.waitStatus(t, "expected follows the Deployment", func(s policyv1.PodDisruptionBudgetStatus) bool { return s.ExpectedPods == 6 })
	if s.DesiredHealthy != 3 || s.DisruptionsAllowed != 0 {
		t.Fatalf("status after scale-up = %+v", s)
	}

	// A pod whose controller is unknown fails the budget safe, with an event.
	h.create(t, pod("stray", func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: types.UID("ss"), Controller: ptrTo(true)}}
	}))
	h.waitStatus(t, "SyncFailed", func(s policyv1.PodDisruptionBudgetStatus) bool {
		return len(s.Conditions) == 1 && s.Conditions[0].Reason == policyv1.SyncFailedReason
	})
	waitEvent(t, h.events, "CalculateExpectedPodCountFailed")
}

// TestControllerExpiresDisruptions: an entry of disruptedPods whose pod is never deleted
// expires after DeletionTimeout, and the budget is synced again then without any event.
func TestControllerExpiresDisruptions(t *testing.T) {
	evicted := time.Now().Add(-DeletionTimeout + 3*time.Second)
	h := start(t, budget(minAvailable(intstr.FromInt32(2)), disrupted(map[string]time.Time{"a": evicted})), pod("a"), pod("b"), pod("c"))
	h.waitStatus(t, "a pending eviction", func(s policyv1.PodDisruptionBudgetStatus) bool {
		return s.ObservedGeneration == 3 && s.CurrentHealthy == 2 && s.DisruptionsAllowed == 0 && len(s.DisruptedPods) == 1
	})
	h.waitStatus(t, "expired entry dropped", func(s policyv1.PodDisruptionBudgetStatus) bool {
		return s.CurrentHealthy == 3 && s.DisruptionsAllowed == 1 && len(s.DisruptedPods) == 0
	})
	waitEvent(t, h.events, "NotDeleted")
}

func waitEvent(t *testing.T, events *record.FakeRecorder, reason string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-events.Events:
			if strings.Contains(e, reason) {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event", reason)
		}
	}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func TestControllerWarnsOfMultipleBudgets(t *testing.T) {
	second := budget(minAvailable(intstr.FromInt32(1)), func(b *policyv1.PodDisruptionBudget) { b.Name = "web-too" })
	h := start(t, budget(minAvailable(intstr.FromInt32(1))), second)
	h.waitStatus(t, "budgets cached", allowed(0))
	h.create(t, pod("a"))
	waitEvent(t, h.events, "MultiplePodDisruptionBudgets")
}
