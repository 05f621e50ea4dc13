package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/controller/replicaset"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

const workers = 5

// Controller is the Deployment control loop.
type Controller struct {
	client      kubernetes.Interface
	dLister     appslisters.DeploymentLister
	rsLister    appslisters.ReplicaSetLister
	podLister   corelisters.PodLister
	cacheSynced []cache.InformerSynced
	recorder    record.EventRecorder
	log         *slog.Logger
	queue       workqueue.TypedRateLimitingInterface[string]
	now         func() time.Time
}

// New builds the Deployment controller.
func New(cc *controller.Context) (controller.Runnable, error) {
	dInf := cc.Informers.Apps().V1().Deployments()
	rsInf := cc.Informers.Apps().V1().ReplicaSets()
	podInf := cc.Informers.Core().V1().Pods()
	c := &Controller{
		client:    cc.Client,
		dLister:   dInf.Lister(),
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		recorder:  cc.Recorder("deployment-controller"),
		log:       cc.Log.With("controller", "deployment"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment"}),
		now: time.Now,
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueObj,
			UpdateFunc: func(_, obj any) { c.enqueueObj(obj) },
			DeleteFunc: c.enqueueObj,
		}},
		{rsInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.addReplicaSet,
			UpdateFunc: c.updateReplicaSet,
			DeleteFunc: c.deleteReplicaSet,
		}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, err
		}
		c.cacheSynced = append(c.cacheSynced, h.inf.HasSynced)
	}
	return c, nil
}

// Name implements controller.Runnable.
func (c *Controller) Name() string { return "deployment" }

// Run syncs Deployments until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.cacheSynced...) {
		return ctx.Err()
	}
	controller.RunWorkers(ctx, c.queue, workers, c.syncDeployment, func(key string, err error) {
		if !apierrors.IsConflict(err) {
			c.log.Info("sync failed, retrying", "key", key, "err", err)
		}
	})
	return nil
}

func keyOf(obj metav1.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

func (c *Controller) enqueueObj(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if d, ok := obj.(*appsv1.Deployment); ok {
		c.queue.Add(keyOf(d))
	}
}

// resolveOwner returns the Deployment a controller reference points at, if it still exists
// with that UID.
func (c *Controller) resolveOwner(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// selectingDeployments are the Deployments whose (non-empty) selector matches an orphan
// ReplicaSet's labels.
func (c *Controller) selectingDeployments(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveOwner(rs.Namespace, ref); d != nil {
			c.queue.Add(keyOf(d))
		}
		return
	}
	for _, d := range c.selectingDeployments(rs) {
		c.queue.Add(keyOf(d))
	}
}

func (c *Controller) updateReplicaSet(oldObj, newObj any) {
	oldRS, rs := oldObj.(*appsv1.ReplicaSet), newObj.(*appsv1.ReplicaSet)
	if oldRS.ResourceVersion == rs.ResourceVersion {
		return
	}
	ref, oldRef := metav1.GetControllerOfNoCopy(rs), metav1.GetControllerOfNoCopy(oldRS)
	refChanged := !reflect.DeepEqual(ref, oldRef)
	if refChanged && oldRef != nil {
		if d := c.resolveOwner(oldRS.Namespace, oldRef); d != nil {
			c.queue.Add(keyOf(d))
		}
	}
	if ref != nil {
		if d := c.resolveOwner(rs.Namespace, ref); d != nil {
			c.queue.Add(keyOf(d))
		}
		return
	}
	if refChanged || !reflect.DeepEqual(rs.Labels, oldRS.Labels) {
		for _, d := range c.selectingDeployments(rs) {
			c.queue.Add(keyOf(d))
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if d := c.resolveOwner(rs.Namespace, metav1.GetControllerOfNoCopy(rs)); d != nil {
		c.queue.Add(keyOf(d))
	}
}

// deletePod wakes a Recreate Deployment: it waits for the old pods to be gone.
func (c *Controller) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.resolveOwner(rs.Namespace, metav1.GetControllerOfNoCopy(rs)); d != nil &&
		d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.queue.Add(keyOf(d))
	}
}

// syncDeployment reconciles one Deployment. Order matters: deletion → status only;
// paused or resized → proportional scaling; otherwise a rollout step of its strategy.
func (c *Controller) syncDeployment(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	if d.Spec.Selector == nil || reflect.DeepEqual(d.Spec.Selector, &metav1.LabelSelector{}) {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return err
		}
		return nil
	}
	rsList, err := c.getReplicaSetsForDeployment(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.sync(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.sync(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		podsByRS, err := c.podsByReplicaSet(d, rsList)
		if err != nil {
			return err
		}
		return c.rolloutRecreate(ctx, d, rsList, podsByRS)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// getReplicaSetsForDeployment claims the ReplicaSets of d's namespace: those it controls and
// selects, plus matching orphans it adopts; controlled ones it no longer selects are released.
func (c *Controller) getReplicaSetsForDeployment(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s has invalid label selector: %w", keyOf(d), err)
	}
	claimer := &replicaset.Claimer{
		Owner:    d,
		OwnerGVK: controllerKind,
		Selector: selector,
		CanAdopt: replicaset.RecheckOwner(d.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	return replicaset.Claim(ctx, claimer, all)
}

// podsByReplicaSet groups d's pods by the ReplicaSet controlling them (terminating pods
// included: Recreate waits for them).
func (c *Controller) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.podLister.Pods(d.Namespace).List(selector)
	if err != nil {
		return nil, err
	}
	out := make(map[types.UID][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		if ref == nil {
			continue
		}
		if _, ok := out[ref.UID]; ok {
			out[ref.UID] = append(out[ref.UID], pod)
		}
	}
	return out, nil
}
