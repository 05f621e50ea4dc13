package disruption

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	policyinformers "k8s.io/client-go/informers/policy/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	policyclient "k8s.io/client-go/kubernetes/typed/policy/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/podutil"
)

const (
	// workers is how many budgets sync in parallel.
	workers = 2
	// eventSource is the component its events come from, as kube-controller-manager's
	// disruption controller names it.
	eventSource = "controllermanager"
)

// Controller keeps the status of PodDisruptionBudgets, and resets pods' stale
// DisruptionTarget conditions.
type Controller struct {
	client      policyclient.PodDisruptionBudgetsGetter
	podClient   coreclient.PodsGetter
	budgets     policylisters.PodDisruptionBudgetLister
	pods        corelisters.PodLister
	replicaSets appslisters.ReplicaSetLister
	deployments appslisters.DeploymentLister
	rcs         corelisters.ReplicationControllerLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string] // budget keys
	staleQueue  workqueue.TypedRateLimitingInterface[string] // pod keys
	recorder    record.EventRecorder
	log         *slog.Logger
	now         func() time.Time
}

// Clients are the API calls the controller makes: budget status and pod status updates.
type Clients struct {
	Budgets policyclient.PodDisruptionBudgetsGetter
	Pods    coreclient.PodsGetter
}

// Informers are the caches the controller reads.
type Informers struct {
	Budgets                policyinformers.PodDisruptionBudgetInformer
	Pods                   coreinformers.PodInformer
	ReplicaSets            appsinformers.ReplicaSetInformer
	Deployments            appsinformers.DeploymentInformer
	ReplicationControllers coreinformers.ReplicationControllerInformer
}

// New builds the disruption controller from the shared controller context.
func New(cc *controller.Context) (controller.Runnable, error) {
	return NewController(Clients{Budgets: cc.Client.PolicyV1(), Pods: cc.Client.CoreV1()}, Informers{
		Budgets:                cc.Informers.Policy().V1().PodDisruptionBudgets(),
		Pods:                   cc.Informers.Core().V1().Pods(),
		ReplicaSets:            cc.Informers.Apps().V1().ReplicaSets(),
		Deployments:            cc.Informers.Apps().V1().Deployments(),
		ReplicationControllers: cc.Informers.Core().V1().ReplicationControllers(),
	}, cc.Recorder(eventSource), cc.Log.With("controller", "disruption"), time.Now)
}

// NewController builds the controller over its client, caches, event recorder and clock.
func NewController(clients Clients, inf Informers, recorder record.EventRecorder, log *slog.Logger, now func() time.Time) (*Controller, error) {
	c := &Controller{
		client:      clients.Budgets,
		podClient:   clients.Pods,
		budgets:     inf.Budgets.Lister(),
		pods:        inf.Pods.Lister(),
		replicaSets: inf.ReplicaSets.Lister(),
		deployments: inf.Deployments.Lister(),
		rcs:         inf.ReplicationControllers.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption"}),
		staleQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "stale_pod_disruption"}),
		recorder: recorder,
		log:      log,
		now:      now,
	}
	handlers := []struct {
		informer cache.SharedIndexInformer
		handler  cache.ResourceEventHandler
	}{
		{inf.Budgets.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueBudget,
			UpdateFunc: func(_, cur any) { c.enqueueBudget(cur) },
			DeleteFunc: c.enqueueBudget,
		}},
		{inf.Pods.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.podAdded,
			UpdateFunc: c.podUpdated,
			DeleteFunc: c.podDeleted,
		}},
		{inf.ReplicaSets.Informer(), c.workloadHandler()},
		{inf.Deployments.Informer(), c.workloadHandler()},
		{inf.ReplicationControllers.Informer(), c.workloadHandler()},
	}
	for _, h := range handlers {
		if _, err := h.informer.AddEventHandler(h.handler); err != nil {
			return nil, err
		}
		c.synced = append(c.synced, h.informer.HasSynced)
	}
	return c, nil
}

// Name implements controller.Runnable.
func (c *Controller) Name() string { return "disruption" }

// Run syncs budgets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	defer c.staleQueue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return ctx.Err()
	}
	failed := func(key string, err error) {
		if apierrors.IsConflict(err) {
			// The cache had not yet seen a write (often this controller's own): usual.
			c.log.Debug("sync conflict, retrying", "key", key, "err", err)
			return
		}
		c.log.Info("sync failed, retrying", "key", key, "err", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { controller.RunWorkers(ctx, c.queue, workers, c.sync, failed) })
	wg.Go(func() { controller.RunWorkers(ctx, c.staleQueue, 1, c.syncStaleDisruption, failed) })
	wg.Wait()
	return nil
}

func (c *Controller) enqueueBudget(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// podAdded queues the budgets selecting a new pod.
func (c *Controller) podAdded(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		c.warnIfMultiple(pod, c.enqueueBudgetsSelecting(pod.Namespace, pod.Labels))
	}
	c.watchStaleDisruption(obj)
}

// podDeleted queues the budgets that selected a pod that went away.
func (c *Controller) podDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		c.enqueueBudgetsSelecting(pod.Namespace, pod.Labels)
	}
}

// warnIfMultiple tells, on the pod, that more than one budget selects it: the eviction
// API refuses to evict such a pod (kube-controller-manager warns likewise).
func (c *Controller) warnIfMultiple(pod *corev1.Pod, budgets []string) {
	if len(budgets) > 1 {
		c.recorder.Eventf(pod, corev1.EventTypeWarning, "MultiplePodDisruptionBudgets",
			"Pod %s/%s matches multiple PodDisruptionBudgets (%s); the eviction API refuses to evict it",
			pod.Namespace, pod.Name, strings.Join(budgets, ", "))
	}
}

// podUpdated queues the budgets that selected the pod before or select it now, when the
// update changed what a budget counts.
func (c *Controller) podUpdated(oldObj, curObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := curObj.(*corev1.Pod)
	c.watchStaleDisruption(curObj)
	if !ok1 || !ok2 || !podChangeCounts(old, cur) {
		return
	}
	c.warnIfMultiple(cur, c.enqueueBudgetsSelecting(cur.Namespace, cur.Labels))
	if !reflect.DeepEqual(old.Labels, cur.Labels) {
		c.enqueueBudgetsSelecting(old.Namespace, old.Labels)
	}
}

// podChangeCounts: the update changed something a budget's status is made of.
func podChangeCounts(old, cur *corev1.Pod) bool {
	return old.UID != cur.UID ||
		!reflect.DeepEqual(old.Labels, cur.Labels) ||
		!old.DeletionTimestamp.Equal(cur.DeletionTimestamp) ||
		podutil.IsReady(old) != podutil.IsReady(cur) ||
		!reflect.DeepEqual(metav1.GetControllerOf(old), metav1.GetControllerOf(cur))
}

// enqueueBudgetsSelecting queues the budgets selecting pods with podLabels and returns
// their names, sorted.
func (c *Controller) enqueueBudgetsSelecting(namespace string, podLabels map[string]string) []string {
	budgets, err := c.budgets.PodDisruptionBudgets(namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var names []string
	for _, pdb := range budgets {
		// policy/v1: an empty selector selects every pod of the namespace, none when nil.
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(podLabels)) {
			c.enqueueBudget(pdb)
			names = append(names, pdb.Name)
		}
	}
	slices.Sort(names)
	return names
}

// workloadHandler queues, on a change of a workload's scale, the budgets of its
// namespace that count scales. (A budget whose minAvailable is an integer counts pods,
// whose changes reach it through the pod handlers.)
func (c *Controller) workloadHandler() cache.ResourceEventHandler {
	changed := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			c.enqueueScaleBudgets(m.GetNamespace())
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		DeleteFunc: changed,
		UpdateFunc: func(oldObj, curObj any) {
			if scaleChanged(oldObj, curObj) {
				changed(curObj)
			}
		},
	}
}

// scaleChanged: a workload update that may change what a budget's expectedPods sums.
func scaleChanged(oldObj, curObj any) bool {
	var oldReplicas, curReplicas *int32
	switch cur := curObj.(type) {
	case *appsv1.ReplicaSet:
		old, ok := oldObj.(*appsv1.ReplicaSet)
		if !ok {
			return true
		}
		oldReplicas, curReplicas = old.Spec.Replicas, cur.Spec.Replicas
	case *appsv1.Deployment:
		old, ok := oldObj.(*appsv1.Deployment)
		if !ok {
			return true
		}
		oldReplicas, curReplicas = old.Spec.Replicas, cur.Spec.Replicas
	case *corev1.ReplicationController:
		old, ok := oldObj.(*corev1.ReplicationController)
		if !ok {
			return true
		}
		oldReplicas, curReplicas = old.Spec.Replicas, cur.Spec.Replicas
	default:
		return false
	}
	oldMeta, curMeta := oldObj.(metav1.Object), curObj.(metav1.Object)
	return oldMeta.GetUID() != curMeta.GetUID() ||
		!reflect.DeepEqual(oldReplicas, curReplicas) ||
		// A ReplicaSet adopted by or released from a Deployment counts another scale.
		!reflect.DeepEqual(metav1.GetControllerOfNoCopy(oldMeta), metav1.GetControllerOfNoCopy(curMeta))
}

func (c *Controller) enqueueScaleBudgets(namespace string) {
	budgets, err := c.budgets.PodDisruptionBudgets(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range budgets {
		if countsScale(pdb) {
			c.enqueueBudget(pdb)
		}
	}
}

// countsScale: the budget's expectedPods is the sum of its workloads' scale.
func countsScale(pdb *policyv1.PodDisruptionBudget) bool {
	return pdb.Spec.MaxUnavailable != nil ||
		(pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.String)
}
