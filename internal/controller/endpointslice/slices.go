package endpointslice

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	typeddiscoveryv1 "k8s.io/client-go/kubernetes/typed/discovery/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/berth/berth/internal/controller"
)

const (
	// DefaultMaxEndpointsPerSlice is upstream's default slice size.
	DefaultMaxEndpointsPerSlice = 100
	// maxEndpointsPerSliceLimit is what validation accepts in one slice.
	maxEndpointsPerSliceLimit = 1000
	// podsByNodeIndex indexes the shared pod informer by spec.nodeName.
	podsByNodeIndex = "berth-endpointslice-node"
)

// errStaleCache asks for a later retry: the slice cache misses this controller's writes.
var errStaleCache = errors.New("endpoint slice cache is behind this controller's writes")

// SliceController keeps the EndpointSlices of every Service with a selector.
type SliceController struct {
	loop        *serviceLoop
	client      typeddiscoveryv1.EndpointSlicesGetter
	slices      discoverylisters.EndpointSliceLister
	nodes       corelisters.NodeLister
	podsIndex   cache.Indexer
	tracker     *sliceTracker
	maxPerSlice int
}

// New builds the EndpointSlice controller.
func New(cc *controller.Context) (controller.Runnable, error) {
	maxPerSlice := cc.Options.MaxEndpointsPerSlice
	switch {
	case maxPerSlice <= 0:
		maxPerSlice = DefaultMaxEndpointsPerSlice
	case maxPerSlice > maxEndpointsPerSliceLimit:
		return nil, fmt.Errorf("max endpoints per slice %d is over %d", maxPerSlice, maxEndpointsPerSliceLimit)
	}
	c := &SliceController{
		client:      cc.Client.DiscoveryV1(),
		tracker:     newSliceTracker(),
		maxPerSlice: maxPerSlice,
	}
	loop, err := newServiceLoop(cc, "endpointslice", c.sync)
	if err != nil {
		return nil, err
	}
	c.loop = loop

	sliceInf := cc.Informers.Discovery().V1().EndpointSlices()
	c.slices = sliceInf.Lister()
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.sliceChanged(obj, false) },
		UpdateFunc: func(oldObj, newObj any) { c.sliceChanged(oldObj, false); c.sliceChanged(newObj, false) },
		DeleteFunc: func(obj any) { c.sliceChanged(obj, true) },
	}); err != nil {
		return nil, err
	}

	nodeInf := cc.Informers.Core().V1().Nodes()
	c.nodes = nodeInf.Lister()
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.nodeChanged(nil, obj) },
		UpdateFunc: c.nodeChanged,
	}); err != nil {
		return nil, err
	}
	podInf := cc.Informers.Core().V1().Pods().Informer()
	if err := podInf.AddIndexers(cache.Indexers{podsByNodeIndex: podNodeName}); err != nil {
		return nil, err
	}
	c.podsIndex = podInf.GetIndexer()
	loop.synced = append(loop.synced, sliceInf.Informer().HasSynced, nodeInf.Informer().HasSynced)
	return c, nil
}

// Name implements controller.Runnable.
func (c *SliceController) Name() string { return "endpointslice" }

// Run syncs Services until ctx ends.
func (c *SliceController) Run(ctx context.Context) error { return c.loop.run(ctx) }

func (c *SliceController) sync(ctx context.Context, namespace, name string) error {
	key := namespace + "/" + name
	cached, err := c.slices.EndpointSlices(namespace).List(labels.SelectorFromValidatedSet(labels.Set{
		discoveryv1.LabelServiceName: name,
		discoveryv1.LabelManagedBy:   ControllerName,
	}))
	if err != nil {
		return err
	}
	if c.tracker.stale(key, cached) {
		return errStaleCache
	}
	svc, err := c.loop.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && !hasSelector(svc)) {
		return c.apply(ctx, key, plan{delete: cached})
	}
	if err != nil {
		return err
	}
	pods, err := c.loop.selectedPods(svc)
	if err != nil {
		return err
	}
	desired := desiredGroups(svc, pods, c.zoneOf)
	return c.apply(ctx, key, reconcile(sliceMetaFor(svc), desired, cached, c.maxPerSlice))
}

// apply writes a plan: creates first, then updates, then deletes, so that a Service is
// never left without the endpoints that are moving between slices.
func (c *SliceController) apply(ctx context.Context, service string, p plan) error {
	var errs []error
	for _, s := range p.create {
		created, err := c.client.EndpointSlices(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("create slice for %s: %w", service, err))
			continue
		}
		c.tracker.wrote(service, created)
	}
	for _, s := range p.update {
		updated, err := c.client.EndpointSlices(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("update slice %s: %w", s.Name, err))
			continue
		}
		c.tracker.wrote(service, updated)
	}
	for _, s := range p.delete {
		err := c.client.EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &s.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete slice %s: %w", s.Name, err))
			continue
		}
		c.tracker.deleted(service, s)
	}
	return errors.Join(errs...)
}

func (c *SliceController) zoneOf(nodeName string) string {
	node, err := c.nodes.Get(nodeName)
	if err != nil {
		return ""
	}
	return node.Labels[corev1.LabelTopologyZone]
}

// sliceChanged queues the Service of a managed slice that changed behind this
// controller's back (edited or deleted by someone else).
func (c *SliceController) sliceChanged(obj any, gone bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, gone = tomb.Obj, true
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	key := s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
	if c.tracker.observe(key, s, gone) {
		c.loop.enqueueBatched(key)
	}
}

// nodeChanged resyncs the Services of the pods on a node whose zone changed.
func (c *SliceController) nodeChanged(oldObj, newObj any) {
	node, ok := newObj.(*corev1.Node)
	if !ok {
		return
	}
	oldZone := ""
	if old, ok := oldObj.(*corev1.Node); ok {
		oldZone = old.Labels[corev1.LabelTopologyZone]
	}
	if node.Labels[corev1.LabelTopologyZone] == oldZone {
		return
	}
	objs, err := c.podsIndex.ByIndex(podsByNodeIndex, node.Name)
	if err != nil {
		return
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok {
			pods = append(pods, pod)
		}
	}
	c.loop.enqueuePodServices(pods...)
}

func podNodeName(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return nil, nil
	}
	return []string{pod.Spec.NodeName}, nil
}
