package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/controller"
)

// kubernetesService is default/kubernetes, the in-cluster name of the API server.
const kubernetesService = "kubernetes"

// APIServerEndpoints publishes the API server's address as the endpoints of the
// selectorless default/kubernetes Service: an Endpoints object and an EndpointSlice, both
// named "kubernetes", as kube-apiserver's endpoint reconciler writes them. It puts them back
// when anyone changes them.
type APIServerEndpoints struct {
	client    kubernetes.Interface
	addr      netip.AddrPort
	endpoints corelisters.EndpointsLister
	slices    discoverylisters.EndpointSliceLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// NewAPIServerEndpoints builds the loop for the address the controllers reach the API
// server at. Loopback and unspecified addresses cannot be endpoints (pods could not use
// them, and validation refuses them): the loop then does nothing.
func NewAPIServerEndpoints(cc *controller.Context) (controller.Runnable, error) {
	addr := cc.Options.APIServerAddress
	if !addr.IsValid() {
		var err error
		if addr, err = apiServerAddr(cc.Config.Host); err != nil {
			return nil, err
		}
	}
	c := &APIServerEndpoints{
		client: cc.Client,
		addr:   addr,
		log:    cc.Log.With("controller", "apiserver-endpoints"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "apiserver-endpoints"}),
	}
	if !c.publishable() {
		return c, nil
	}
	epInf := cc.Informers.Core().V1().Endpoints()
	sliceInf := cc.Informers.Discovery().V1().EndpointSlices()
	c.endpoints, c.slices = epInf.Lister(), sliceInf.Lister()
	onOurs := cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			return err == nil && key == metav1.NamespaceDefault+"/"+kubernetesService
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.queue.Add(kubernetesService) },
			UpdateFunc: func(any, any) { c.queue.Add(kubernetesService) },
			DeleteFunc: func(any) { c.queue.Add(kubernetesService) },
		},
	}
	for _, inf := range []cache.SharedIndexInformer{epInf.Informer(), sliceInf.Informer()} {
		if _, err := inf.AddEventHandler(onOurs); err != nil {
			return nil, err
		}
		c.synced = append(c.synced, inf.HasSynced)
	}
	return c, nil
}

// apiServerAddr parses the host and port of the API server URL.
func apiServerAddr(host string) (netip.AddrPort, error) {
	u, err := url.Parse(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("api server url %q: %w", host, err)
	}
	h, p, err := net.SplitHostPort(u.Host)
	if err != nil {
		return netip.AddrPort{}, nil // a name, not an address: nothing to publish
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return netip.AddrPort{}, nil
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("api server port %q: %w", p, err)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

func (c *APIServerEndpoints) publishable() bool {
	ip := c.addr.Addr()
	return ip.Is4() && !ip.IsLoopback() && !ip.IsUnspecified()
}

// Name implements controller.Runnable.
func (c *APIServerEndpoints) Name() string { return "apiserver-endpoints" }

// Run keeps the endpoints until ctx ends.
func (c *APIServerEndpoints) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !c.publishable() {
		<-ctx.Done()
		return nil
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return ctx.Err()
	}
	c.queue.Add(kubernetesService)
	var wg sync.WaitGroup
	wg.Go(func() {
		for c.processNext(ctx) {
		}
	})
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *APIServerEndpoints) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx); err != nil && ctx.Err() == nil {
		c.log.Info("sync failed, retrying", "err", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *APIServerEndpoints) sync(ctx context.Context) error {
	ip, port := c.addr.Addr().String(), int32(c.addr.Port())
	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Name: kubernetesService, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"},
		},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := c.syncEndpoints(ctx, want); err != nil {
		return err
	}
	return c.syncSlice(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: kubernetesService, Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: kubernetesService},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	})
}

func (c *APIServerEndpoints) syncEndpoints(ctx context.Context, want *corev1.Endpoints) error {
	api := c.client.CoreV1().Endpoints(metav1.NamespaceDefault)
	current, err := c.endpoints.Endpoints(metav1.NamespaceDefault).Get(kubernetesService)
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
	case err != nil:
	case apiequality.Semantic.DeepEqual(current.Subsets, want.Subsets) && labelsEqual(current.Labels, want.Labels):
	default:
		update := current.DeepCopy()
		update.Labels, update.Subsets = want.Labels, want.Subsets
		_, err = api.Update(ctx, update, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("kubernetes service endpoints: %w", err)
	}
	return nil
}

func (c *APIServerEndpoints) syncSlice(ctx context.Context, want *discoveryv1.EndpointSlice) error {
	api := c.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	current, err := c.slices.EndpointSlices(metav1.NamespaceDefault).Get(kubernetesService)
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
	case err != nil:
	case apiequality.Semantic.DeepEqual(current.Endpoints, want.Endpoints) &&
		apiequality.Semantic.DeepEqual(current.Ports, want.Ports) && labelsEqual(current.Labels, want.Labels):
	default:
		update := current.DeepCopy()
		update.Labels, update.Endpoints, update.Ports = want.Labels, want.Endpoints, want.Ports
		_, err = api.Update(ctx, update, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("kubernetes service endpoint slice: %w", err)
	}
	return nil
}
