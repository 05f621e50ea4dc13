package replicaset

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/podutil"
)

const (
	// burstReplicas caps the pods one sync creates or deletes.
	burstReplicas = 500
	// statusBatch is how long a change that can only alter a workload's status (a pod
	// created as expected while more are awaited, a pod's readiness) may wait before the
	// workload syncs, so that a burst of them costs one sync. A sync reads every pod of
	// the workload: with one sync per pod event, a 10 000-replica rollout cost the
	// square of its pods (the controller synced back to back, ≈ 50 times a second).
	// Changes that call for new pods or deletions sync at once.
	statusBatch = 100 * time.Millisecond
	// workers is how many workloads sync in parallel.
	workers = 5
)

// Controller is the ReplicaSet (or ReplicationController) control loop.
type Controller struct {
	name         string
	kind         workloadKind
	client       kubernetes.Interface
	pods         podIndex
	podsSynced   cache.InformerSynced
	recorder     record.EventRecorder
	log          *slog.Logger
	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *expectations
	costs        syncCosts
	now          func() time.Time
}

// New builds the apps/v1 ReplicaSet controller.
func New(cc *controller.Context) (controller.Runnable, error) {
	inf := cc.Informers.Apps().V1().ReplicaSets()
	kind := replicaSets{client: cc.Client, inf: inf.Informer(), lister: inf.Lister()}
	return newController(cc, "replicaset", "replicaset-controller", kind)
}

// NewReplicationController builds the core/v1 ReplicationController controller: the same
// loop, over the kind adapter.
func NewReplicationController(cc *controller.Context) (controller.Runnable, error) {
	inf := cc.Informers.Core().V1().ReplicationControllers()
	kind := replicationControllers{client: cc.Client, inf: inf.Informer(), lister: inf.Lister()}
	return newController(cc, "replicationcontroller", "replication-controller", kind)
}

// newController builds the loop; component is the source of its events, as
// kube-controller-manager names it (what kubectl describe shows under From).
func newController(cc *controller.Context, name, component string, kind workloadKind) (*Controller, error) {
	pods := cc.Informers.Core().V1().Pods()
	c := &Controller{
		name:     name,
		kind:     kind,
		client:   cc.Client,
		pods:     podIndex{pods.Informer().GetIndexer()},
		recorder: cc.Recorder(component),
		log:      cc.Log.With("controller", name),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		expectations: newExpectations(time.Now),
		now:          time.Now,
	}
	if _, err := kind.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateWorkload,
		DeleteFunc: c.deleteWorkload,
	}); err != nil {
		return nil, err
	}
	podInformer := pods.Informer()
	if err := addPodIndex(podInformer); err != nil {
		return nil, err
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, err
	}
	c.podsSynced = podInformer.HasSynced
	return c, nil
}

// Name implements controller.Runnable.
func (c *Controller) Name() string { return c.name }

// Run syncs workloads until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.kind.informer().HasSynced, c.podsSynced) {
		return ctx.Err()
	}
	controller.RunWorkers(ctx, c.queue, workers, c.sync, func(key string, err error) {
		c.log.Info("sync failed, retrying", "key", key, "err", err)
	})
	return nil
}

func keyOf(obj metav1.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

func (c *Controller) enqueue(obj any) {
	if rs, ok := c.kind.view(obj); ok {
		c.queue.Add(keyOf(rs))
	}
}

func (c *Controller) updateWorkload(oldObj, newObj any) {
	oldRS, ok1 := c.kind.view(oldObj)
	newRS, ok2 := c.kind.view(newObj)
	if ok1 && ok2 && oldRS.UID != newRS.UID {
		// Deleted and recreated between two watch events: forget the old one's state.
		c.deleteWorkload(cache.DeletedFinalStateUnknown{Key: keyOf(oldRS), Obj: oldObj})
	}
	if ok1 && ok2 && onlyStatusChanged(oldRS, newRS) {
		// Its status is this controller's own write: nothing to do about it.
		return
	}
	c.enqueue(newObj)
}

// onlyStatusChanged: a workload update that changed nothing its sync reads but status
// (spec changes bump the generation).
func onlyStatusChanged(old, cur *appsv1.ReplicaSet) bool {
	return old.UID == cur.UID && old.Generation == cur.Generation &&
		old.DeletionTimestamp.Equal(cur.DeletionTimestamp) &&
		reflect.DeepEqual(old.Labels, cur.Labels) &&
		reflect.DeepEqual(old.OwnerReferences, cur.OwnerReferences) &&
		reflect.DeepEqual(old.Finalizers, cur.Finalizers)
}

func (c *Controller) deleteWorkload(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rs, ok := c.kind.view(obj)
	if !ok {
		return
	}
	key := keyOf(rs)
	c.expectations.forget(key)
	c.costs.forget(key)
	c.queue.Add(key)
}

// resolveOwner returns the workload a controller reference points at, if it still exists
// with that UID.
func (c *Controller) resolveOwner(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	gvk := c.kind.gvk()
	if ref == nil || ref.Kind != gvk.Kind || ref.APIVersion != gvk.GroupVersion().String() {
		return nil
	}
	rs, _, err := c.kind.get(namespace, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// selectingWorkloads returns the workloads whose selector matches an orphan pod. An empty
// selector matches nothing here (it would adopt every pod in the namespace).
func (c *Controller) selectingWorkloads(pod *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.kind.list(pod.Namespace)
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already terminating (e.g. after a restart): a deletion,
		// not a creation.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if rs := c.resolveOwner(pod.Namespace, ref); rs != nil {
			key := keyOf(rs)
			c.expectations.creationObserved(key)
			if c.expectations.satisfied(key) {
				c.queue.Add(key) // the next batch may be due
			} else {
				c.queue.AddAfter(key, c.costs.statusDelay(key))
			}
		}
		return
	}
	for _, rs := range c.selectingWorkloads(pod) {
		c.queue.Add(keyOf(rs))
	}
}

func (c *Controller) updatePod(oldObj, newObj any) {
	oldPod, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(oldPod.Labels, pod.Labels)
	if pod.DeletionTimestamp != nil {
		// Graceful deletion started: replace the pod now, not when the kubelet finishes.
		c.deletePod(pod)
		if labelsChanged {
			c.deletePod(oldPod)
		}
		return
	}
	ref, oldRef := metav1.GetControllerOfNoCopy(pod), metav1.GetControllerOfNoCopy(oldPod)
	refChanged := !reflect.DeepEqual(ref, oldRef)
	if refChanged && oldRef != nil {
		if rs := c.resolveOwner(oldPod.Namespace, oldRef); rs != nil {
			c.queue.Add(keyOf(rs))
		}
	}
	if ref != nil {
		rs := c.resolveOwner(pod.Namespace, ref)
		if rs == nil {
			return
		}
		if refChanged || labelsChanged || IsPodActive(oldPod) != IsPodActive(pod) {
			c.queue.Add(keyOf(rs))
		} else {
			c.queue.AddAfter(keyOf(rs), c.costs.statusDelay(keyOf(rs)))
		}
		// Readiness plus minReadySeconds makes the pod available later without any event:
		// look again then.
		if !podutil.IsReady(oldPod) && podutil.IsReady(pod) && rs.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.selectingWorkloads(pod) {
			c.queue.Add(keyOf(rs))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	rs := c.resolveOwner(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key := keyOf(rs)
	c.expectations.deletionObserved(key, podKey(pod))
	c.queue.Add(key)
}
