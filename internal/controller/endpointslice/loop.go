package endpointslice

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
)

// workers is how many Services sync in parallel (upstream's --concurrent-service-endpoint-syncs).
const workers = 5

// serviceLoop is the part both controllers share: a queue of Service keys fed by Service
// and pod events, and the workers that drain it into sync.
type serviceLoop struct {
	name     string
	log      *slog.Logger
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	// batchPeriod delays the sync a pod event asks for, so that the events of a burst
	// coalesce into one sync per Service.
	batchPeriod time.Duration
	sync        func(ctx context.Context, namespace, name string) error
}

func newServiceLoop(cc *controller.Context, name string, sync func(ctx context.Context, namespace, name string) error) (*serviceLoop, error) {
	svcInf := cc.Informers.Core().V1().Services()
	podInf := cc.Informers.Core().V1().Pods()
	l := &serviceLoop{
		name:     name,
		log:      cc.Log.With("controller", name),
		services: svcInf.Lister(),
		pods:     podInf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		batchPeriod: cc.Options.EndpointUpdatesBatchPeriod,
		sync:        sync,
	}
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    l.enqueueObject,
		UpdateFunc: func(_, obj any) { l.enqueueObject(obj) },
		DeleteFunc: l.enqueueObject,
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    l.addPod,
		UpdateFunc: l.updatePod,
		DeleteFunc: l.deletePod,
	}); err != nil {
		return nil, err
	}
	l.synced = append(l.synced, svcInf.Informer().HasSynced, podInf.Informer().HasSynced)
	return l, nil
}

// run drains the queue with workers until ctx ends.
func (l *serviceLoop) run(ctx context.Context) error {
	defer l.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), l.synced...) {
		return ctx.Err()
	}
	controller.RunWorkers(ctx, l.queue, workers, l.syncKey, func(key string, err error) {
		l.log.Info("sync failed, retrying", "service", key, "err", err)
	})
	return nil
}

// syncKey syncs the Service a queue key names; a key that names none is dropped.
func (l *serviceLoop) syncKey(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	return l.sync(ctx, namespace, name)
}

// enqueueObject queues the Service an object names (a Service, or an object named after
// its Service), tombstones included.
func (l *serviceLoop) enqueueObject(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		l.queue.Add(key)
	}
}

// enqueueBatched queues a Service for a pod change, after the batch period.
func (l *serviceLoop) enqueueBatched(key string) {
	if l.batchPeriod > 0 {
		l.queue.AddAfter(key, l.batchPeriod)
		return
	}
	l.queue.Add(key)
}

// servicesOf returns the keys of the Services in the pod's namespace whose selector
// matches labels.
func (l *serviceLoop) servicesOf(namespace string, podLabels map[string]string, into map[string]struct{}) {
	svcs, err := l.services.Services(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	set := labels.Set(podLabels)
	for _, svc := range svcs {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		if labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(set) {
			into[svc.Namespace+"/"+svc.Name] = struct{}{}
		}
	}
}

func (l *serviceLoop) enqueuePodServices(pods ...*corev1.Pod) {
	keys := map[string]struct{}{}
	for _, pod := range pods {
		l.servicesOf(pod.Namespace, pod.Labels, keys)
	}
	for key := range keys {
		l.enqueueBatched(key)
	}
}

func (l *serviceLoop) addPod(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		l.enqueuePodServices(pod)
	}
}

func (l *serviceLoop) updatePod(oldObj, newObj any) {
	oldPod, ok1 := oldObj.(*corev1.Pod)
	newPod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || oldPod.ResourceVersion == newPod.ResourceVersion {
		return
	}
	labelsChanged, changed := podChanged(oldPod, newPod)
	switch {
	case labelsChanged:
		l.enqueuePodServices(oldPod, newPod)
	case changed:
		l.enqueuePodServices(newPod)
	}
}

func (l *serviceLoop) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		l.enqueuePodServices(pod)
	}
}

// selectedPods returns the pods a Service selects, from the cache.
func (l *serviceLoop) selectedPods(svc *corev1.Service) ([]*corev1.Pod, error) {
	return l.pods.Pods(svc.Namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
}
