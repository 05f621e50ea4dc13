package endpointslice

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/podutil"
)

const (
	// maxEndpointsCapacity is where upstream truncates an Endpoints object.
	maxEndpointsCapacity = 1000
	// endpointsManagedByLabel / endpointsControllerName mark Endpoints this controller wrote.
	endpointsManagedByLabel = "endpoints.kubernetes.io/managed-by"
	endpointsControllerName = "endpoint-controller"
)

// EndpointsController keeps the legacy core/v1 Endpoints of every Service with a
// selector, for clients that do not read EndpointSlices.
type EndpointsController struct {
	loop      *serviceLoop
	client    typedcorev1.EndpointsGetter
	endpoints corelisters.EndpointsLister
}

// NewEndpoints builds the legacy Endpoints controller.
func NewEndpoints(cc *controller.Context) (controller.Runnable, error) {
	c := &EndpointsController{client: cc.Client.CoreV1()}
	loop, err := newServiceLoop(cc, "endpoints", c.sync)
	if err != nil {
		return nil, err
	}
	c.loop = loop
	epInf := cc.Informers.Core().V1().Endpoints()
	c.endpoints = epInf.Lister()
	// An Endpoints object deleted by someone else comes back at once.
	if _, err := epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: loop.enqueueObject,
	}); err != nil {
		return nil, err
	}
	loop.synced = append(loop.synced, epInf.Informer().HasSynced)
	return c, nil
}

// Name implements controller.Runnable.
func (c *EndpointsController) Name() string { return "endpoints" }

// Run syncs Services until ctx ends.
func (c *EndpointsController) Run(ctx context.Context) error { return c.loop.run(ctx) }

func (c *EndpointsController) sync(ctx context.Context, namespace, name string) error {
	svc, err := c.loop.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: its Endpoints go too (as upstream, whoever wrote them). The
		// cache may not hold Endpoints created a moment ago, so ask the API.
		err := c.client.Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s/%s: %w", namespace, name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !hasSelector(svc) {
		return nil // user-managed Endpoints, if any
	}
	pods, err := c.loop.selectedPods(svc)
	if err != nil {
		return err
	}
	subsets := endpointSubsets(svc, pods)
	current, err := c.endpoints.Endpoints(namespace).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := desiredEndpoints(svc, current, subsets)
	if current == nil {
		_, err = c.client.Endpoints(namespace).Create(ctx, want, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create endpoints %s/%s: %w", namespace, name, err)
		}
		return nil
	}
	if apiequality.Semantic.DeepEqual(current.Subsets, want.Subsets) &&
		labelsEqual(current.Labels, want.Labels) && labelsEqual(current.Annotations, want.Annotations) {
		return nil
	}
	if _, err := c.client.Endpoints(namespace).Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update endpoints %s/%s: %w", namespace, name, err)
	}
	return nil
}

// desiredEndpoints is the Endpoints object for svc: current's identity (if any) with the
// Service's labels, the subsets truncated to capacity and the over-capacity annotation
// saying so.
func desiredEndpoints(svc *corev1.Service, current *corev1.Endpoints, subsets []corev1.EndpointSubset) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace}}
	if current != nil {
		ep.ObjectMeta = *current.ObjectMeta.DeepCopy()
	}
	ep.Labels = cloneLabels(svc.Labels)
	ep.Labels[endpointsManagedByLabel] = endpointsControllerName
	if isHeadless(svc) {
		ep.Labels[headlessLabel] = ""
	} else {
		delete(ep.Labels, headlessLabel)
	}
	ep.Annotations = cloneLabels(ep.Annotations)
	delete(ep.Annotations, corev1.EndpointsLastChangeTriggerTime)
	ep.Subsets = subsets
	if truncateSubsets(ep.Subsets, maxEndpointsCapacity) {
		ep.Annotations[corev1.EndpointsOverCapacity] = "truncated"
	} else {
		delete(ep.Annotations, corev1.EndpointsOverCapacity)
	}
	return ep
}

// endpointSubsets groups the pods svc selects into subsets of identical resolved ports,
// ready pods under addresses and the others under notReadyAddresses. Terminating pods are
// left out unless the Service publishes not-ready addresses.
func endpointSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	byPorts := map[string]*corev1.EndpointSubset{}
	for _, pod := range pods {
		if !isEndpoint(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, err := targetPort(pod, sp)
			if err != nil {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: proto, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && !(len(svc.Spec.Ports) == 0 && isHeadless(svc)) {
			continue
		}
		slices.SortFunc(ports, func(a, b corev1.EndpointPort) int { return strings.Compare(a.Name, b.Name) })
		key := fmt.Sprint(ports)
		subset := byPorts[key]
		if subset == nil {
			subset = &corev1.EndpointSubset{Ports: ports}
			byPorts[key] = subset
		}
		addr := corev1.EndpointAddress{
			IP:        podIPv4(pod),
			Hostname:  hostnameFor(pod, svc),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			addr.NodeName = ptr.To(pod.Spec.NodeName)
		}
		if svc.Spec.PublishNotReadyAddresses || podutil.IsReady(pod) {
			subset.Addresses = append(subset.Addresses, addr)
		} else {
			subset.NotReadyAddresses = append(subset.NotReadyAddresses, addr)
		}
	}
	subsets := make([]corev1.EndpointSubset, 0, len(byPorts))
	for _, key := range sortedKeys(byPorts) {
		subset := byPorts[key]
		sortAddresses(subset.Addresses)
		sortAddresses(subset.NotReadyAddresses)
		subsets = append(subsets, *subset)
	}
	return subsets
}

func sortAddresses(addrs []corev1.EndpointAddress) {
	slices.SortFunc(addrs, func(a, b corev1.EndpointAddress) int {
		if c := strings.Compare(a.IP, b.IP); c != 0 {
			return c
		}
		return strings.Compare(string(a.TargetRef.UID), string(b.TargetRef.UID))
	})
}

// truncateSubsets caps the addresses at max as upstream does: not-ready addresses go
// first; when the ready ones alone exceed max, every subset keeps a share of max in
// proportion to its ready addresses and none of its not-ready ones. It reports whether it
// truncated.
func truncateSubsets(subsets []corev1.EndpointSubset, max int) bool {
	ready, notReady := 0, 0
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= max {
		return false
	}
	truncateReady := ready > max
	budget, total := max-ready, notReady
	if truncateReady {
		budget, total = max, ready
	}
	left := budget
	for i := range subsets {
		s := &subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		keep := min(int(math.Ceil(float64(n)/float64(total)*float64(budget))), left)
		if truncateReady {
			s.Addresses = s.Addresses[:keep]
			s.NotReadyAddresses = nil
			left -= keep
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:keep]
			left -= keep
		}
	}
	return true
}
