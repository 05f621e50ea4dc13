package apiserver_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/apiserver"
)

// TestObjectWatches: through ObjectWatches, an in-process client's watches of pods and
// leases and its metadata watches receive private copies of the server's objects (typed,
// without managedFields or a kind, as a decoder leaves them) instead of a stream; errors
// arrive as a remote client gets them, and Stop ends the watch.
func TestObjectWatches(t *testing.T) {
	api, err := newTestAPI(func(*http.Request) (apiserver.User, bool) { return apiserver.User{}, false })
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{
		Host:          "https://berth.invalid",
		Transport:     apiserver.InProcessTransport(api.Handler(), apiserver.User{Name: "test", Groups: []string{"system:masters"}}),
		ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeProtobuf},
	}
	plain, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plainMD, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var plainCreates atomic.Int32
	client, md, err := apiserver.ObjectWatches(cfg, countingClient{Interface: plain, creates: &plainCreates}, plainMD)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	from := metav1.ListOptions{ResourceVersion: list.ResourceVersion}
	w1, err := client.CoreV1().Pods("default").Watch(ctx, from)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w1.Stop()
	if _, stream := w1.(*watch.StreamWatcher); stream {
		t.Fatal("pod watch is a stream, want an object watch")
	}
	w2, err := client.CoreV1().Pods("").Watch(ctx, from)
	if err != nil {
		t.Fatalf("watch all namespaces: %v", err)
	}
	defer w2.Stop()
	mw, err := md.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace("default").Watch(ctx, from)
	if err != nil {
		t.Fatalf("metadata watch: %v", err)
	}
	defer mw.Stop()

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "app:0.3.2"}}},
	}
	created, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{FieldManager: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.ManagedFields) == 0 || created.ManagedFields[0].Manager != "test" {
		t.Fatalf("the created pod's managedFields %v, want the test's entry", created.ManagedFields)
	}
	if created == pod || created.UID == "" || created.ResourceVersion == "" || !created.GetObjectKind().GroupVersionKind().Empty() ||
		pod.ResourceVersion != "" {
		t.Fatalf("create returned %#v (and left the given pod %#v): want a new object, stored, without a kind", created, pod)
	}
	if n := plainCreates.Load(); n != 0 {
		t.Fatalf("%d creates went the ordinary way", n)
	}
	// An object create is answered like any other: errors as Status.
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "no-containers"}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("create without containers: %v, want Invalid", err)
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{"All"}}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("dry-run create of an existing name: %v, want AlreadyExists", err)
	}
	next := func(w watch.Interface) watch.Event {
		t.Helper()
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return watch.Event{}
	}
	ev1, ev2 := next(w1), next(w2)
	p1, ok1 := ev1.Object.(*corev1.Pod)
	p2, ok2 := ev2.Object.(*corev1.Pod)
	if ev1.Type != watch.Added || !ok1 || !ok2 || p1.Name != "p" || p1.ResourceVersion != created.ResourceVersion {
		t.Fatalf("events %s %#v / %#v, want ADDED pod p at %s", ev1.Type, ev1.Object, ev2.Object, created.ResourceVersion)
	}
	if p1.ManagedFields != nil || !p1.GetObjectKind().GroupVersionKind().Empty() || p1.Spec.Containers[0].Image != "app:0.3.2" {
		t.Fatalf("pod %#v, want the pod without managedFields or kind", p1)
	}
	p1.Labels["app"] = "changed"
	if p2.Labels["app"] != "a" {
		t.Fatal("two watchers share one object")
	}
	mev := next(mw)
	pm, ok := mev.Object.(*metav1.PartialObjectMetadata)
	if mev.Type != watch.Added || !ok || pm.Name != "p" || pm.Labels["app"] != "a" || pm.ManagedFields != nil {
		t.Fatalf("metadata event %s %#v, want ADDED metadata of p", mev.Type, mev.Object)
	}

	lw, err := client.CoordinationV1().Leases("default").Watch(ctx, from)
	if err != nil {
		t.Fatalf("lease watch: %v", err)
	}
	defer lw.Stop()
	if _, err := client.CoordinationV1().Leases("default").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := next(lw); ev.Type != watch.Added || ev.Object.(*coordinationv1.Lease).Name != "l" {
		t.Fatalf("lease event %s %#v", ev.Type, ev.Object)
	}

	// An error before the stream is the error a remote client gets.
	if _, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "a in ("}); !apierrors.IsBadRequest(err) {
		t.Fatalf("watch with a bad selector: %v, want 400", err)
	}

	// Stop ends the handler, which closes the channel.
	w1.Stop()
	for {
		select {
		case _, ok := <-w1.ResultChan():
			if !ok {
				return
			}
		case <-ctx.Done():
			t.Fatal("the watch did not end after Stop")
		}
	}
}

// countingClient counts the pod creates that reach the ordinary client.
type countingClient struct {
	kubernetes.Interface
	creates *atomic.Int32
}

func (c countingClient) CoreV1() corev1client.CoreV1Interface {
	return countingCoreV1{CoreV1Interface: c.Interface.CoreV1(), creates: c.creates}
}

type countingCoreV1 struct {
	corev1client.CoreV1Interface
	creates *atomic.Int32
}

func (c countingCoreV1) Pods(ns string) corev1client.PodInterface {
	return countingPods{PodInterface: c.CoreV1Interface.Pods(ns), creates: c.creates}
}

type countingPods struct {
	corev1client.PodInterface
	creates *atomic.Int32
}

func (p countingPods) Create(ctx context.Context, pod *corev1.Pod, opts metav1.CreateOptions) (*corev1.Pod, error) {
	p.creates.Add(1)
	return p.PodInterface.Create(ctx, pod, opts)
}
