package workloads

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// fakeKubelet stands in for nodes until simulated nodes and the scheduler run in these
// tests: it registers one node (Ready, renewing its Lease), binds pending pods to it, turns
// bound pods Running and Ready after readyDelay, and finishes graceful deletions at once.
// Pods whose first container's image is neverReadyImage stay Running but not Ready.
type fakeKubelet struct {
	client     kubernetes.Interface
	node       string
	readyDelay time.Duration
	queue      workqueue.TypedRateLimitingInterface[string]
	pods       cache.Indexer
	ipSeq      atomic.Int32
}

const neverReadyImage = "never-ready:1"

func startFakeKubelet(t *testing.T, client kubernetes.Interface, readyDelay time.Duration) *fakeKubelet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &fakeKubelet{
		client: client, node: "node-1", readyDelay: readyDelay,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	if err := k.register(ctx); err != nil {
		cancel()
		t.Fatalf("fake kubelet: %v", err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		cancel()
		t.Fatalf("fake kubelet: %v", err)
	}
	k.pods = inf.GetIndexer()
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k.next(ctx) {
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.heartbeat(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		k.queue.ShutDown()
		factory.Shutdown()
		wg.Wait()
	})
	return k
}

func (k *fakeKubelet) register(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.node, Labels: map[string]string{"kubernetes.io/hostname": k.node}}}
	created, err := k.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("1000"),
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: now, LastTransitionTime: now}},
	}
	_, err = k.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the node's Lease so node lifecycle keeps it Ready.
func (k *fakeKubelet) heartbeat(ctx context.Context) {
	ns := corev1.NamespaceNodeLease
	_, _ = k.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	seconds := int32(40)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		now := metav1.NewMicroTime(time.Now())
		lease, err := k.client.CoordinationV1().Leases(ns).Get(ctx, k.node, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, _ = k.client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: k.node, Namespace: ns},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &k.node, LeaseDurationSeconds: &seconds, RenewTime: &now},
			}, metav1.CreateOptions{})
		case err == nil:
			lease.Spec.RenewTime = &now
			_, _ = k.client.CoordinationV1().Leases(ns).Update(ctx, lease, metav1.UpdateOptions{})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (k *fakeKubelet) next(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	if err := k.sync(ctx, key); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
		k.queue.AddRateLimited(key)
		return true
	}
	k.queue.Forget(key)
	return true
}

func (k *fakeKubelet) sync(ctx context.Context, key string) error {
	obj, exists, err := k.pods.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*corev1.Pod)
	pods := k.client.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		zero := int64(0)
		return pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	case pod.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: k.node},
		}, metav1.CreateOptions{})
		if apierrors.IsConflict(err) {
			return nil // the scheduler was first
		}
		return err
	case pod.Spec.NodeName != k.node || pod.Status.Phase == corev1.PodRunning:
		return nil
	}
	if wait := k.readyDelay - time.Since(pod.CreationTimestamp.Time); wait > 0 {
		k.queue.AddAfter(key, wait)
		return nil
	}
	ready := corev1.ConditionTrue
	if len(pod.Spec.Containers) > 0 && pod.Spec.Containers[0].Image == neverReadyImage {
		ready = corev1.ConditionFalse
	}
	now := metav1.Now()
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	n := k.ipSeq.Add(1)
	pod.Status.PodIP = fmt.Sprintf("10.42.%d.%d", n/250, n%250+1)
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: ready == corev1.ConditionTrue,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}
