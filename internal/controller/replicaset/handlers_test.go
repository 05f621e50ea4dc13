package replicaset

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// recordingQueue notes how each key was queued: "now" or "later" (after a delay).
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[string]
	got []string
}

func (q *recordingQueue) Add(key string) { q.got = append(q.got, "now "+key) }
func (q *recordingQueue) AddAfter(key string, d time.Duration) {
	q.got = append(q.got, "later "+key)
}

// TestPodEventsBatchStatusSyncs: a pod event that can only change a workload's status
// (a creation while more are awaited, readiness) queues it after statusBatch; one that
// calls for pods to be created or deleted (the last awaited creation, a pod failing or
// leaving the selection) queues it at once.
func TestPodEventsBatchStatusSyncs(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "rs-uid"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := indexer.Add(rs); err != nil {
		t.Fatal(err)
	}
	q := &recordingQueue{}
	c := &Controller{
		kind:         replicaSets{lister: appslisters.NewReplicaSetLister(indexer)},
		queue:        q,
		expectations: newExpectations(time.Now),
		now:          time.Now,
	}
	owned := func(name string, opts ...podOpt) *corev1.Pod {
		p := pod(name, opts...)
		p.Namespace, p.Labels, p.ResourceVersion = "ns", map[string]string{"app": "web"}, "1"
		p.OwnerReferences = []metav1.OwnerReference{*ControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
		return p
	}
	next := func(p *corev1.Pod, change func(*corev1.Pod)) *corev1.Pod {
		n := p.DeepCopy()
		n.ResourceVersion += "1"
		change(n)
		return n
	}
	expect := func(step string, want ...string) {
		t.Helper()
		if !slices.Equal(q.got, want) {
			t.Errorf("%s: queued %q, want %q", step, q.got, want)
		}
		q.got = nil
	}

	c.expectations.expectCreations("ns/web", 2)
	a, b := owned("a", phase(corev1.PodPending)), owned("b", phase(corev1.PodPending))
	c.addPod(a)
	expect("first of two awaited creations", "later ns/web")
	c.addPod(b)
	expect("last awaited creation", "now ns/web")

	running := next(a, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	})
	c.updatePod(a, running)
	expect("pod became ready", "later ns/web")
	c.updatePod(running, next(running, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }))
	expect("pod failed", "now ns/web")
	c.updatePod(running, next(running, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "other"} }))
	expect("pod left the selection", "now ns/web")
	c.deletePod(running)
	expect("pod deleted", "now ns/web")
}

// TestWorkloadStatusUpdatesIgnored: the controller's own status writes come back as
// workload updates; they do not queue another sync, a spec change (a new generation) does.
func TestWorkloadStatusUpdatesIgnored(t *testing.T) {
	q := &recordingQueue{}
	c := &Controller{kind: replicaSets{}, queue: q, expectations: newExpectations(time.Now), now: time.Now}
	old := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u", Generation: 1, ResourceVersion: "1"}}
	status := old.DeepCopy()
	status.ResourceVersion, status.Status.ReadyReplicas = "2", 3
	c.updateWorkload(old, status)
	if len(q.got) != 0 {
		t.Errorf("status write queued %q, want nothing", q.got)
	}
	scaled := status.DeepCopy()
	scaled.ResourceVersion, scaled.Generation = "3", 2
	c.updateWorkload(status, scaled)
	relabeled := scaled.DeepCopy()
	relabeled.ResourceVersion, relabeled.Labels = "4", map[string]string{"a": "b"}
	c.updateWorkload(scaled, relabeled)
	if want := []string{"now ns/web", "now ns/web"}; !slices.Equal(q.got, want) {
		t.Errorf("spec and label changes queued %q, want %q", q.got, want)
	}
}
