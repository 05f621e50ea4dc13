package dns

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Source is the cluster state DNS answers from.
type Source interface {
	// Service returns the named service.
	Service(namespace, name string) (*corev1.Service, bool)
	// EndpointSlices returns the slices of a service.
	EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice
	// ServicesByIP returns services whose cluster IP is ip.
	ServicesByIP(ip string) []*corev1.Service
	// EndpointSlicesByAddress returns slices that hold an endpoint with address ip.
	EndpointSlicesByAddress(ip string) []*discoveryv1.EndpointSlice
	// NamespaceHasServices reports whether any service lives in namespace.
	NamespaceHasServices(namespace string) bool
}

// Versioned is a Source that can tell when it changes: Version returns a number that
// differs after every change to what the Source returns. The server keeps ready answers
// only for Versioned sources, and only while the version stays the same.
type Versioned interface {
	Version() uint64
}

const (
	indexByServiceName = "byServiceName"
	indexByClusterIP   = "byClusterIP"
	indexByNamespace   = "byNamespace"
	indexByAddress     = "byAddress"
)

// InformerSource is a Source over shared informers.
type InformerSource struct {
	services cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	version  atomic.Uint64
	handlers []cache.ResourceEventHandlerRegistration
}

// NewInformerSource asks factory for service and endpointslice informers; start the
// factory and wait for HasSynced before serving.
func NewInformerSource(factory informers.SharedInformerFactory) (*InformerSource, error) {
	services := factory.Core().V1().Services().Informer()
	if err := services.AddIndexers(cache.Indexers{
		indexByClusterIP: func(obj any) ([]string, error) {
			svc, ok := obj.(*corev1.Service)
			if !ok {
				return nil, nil
			}
			return serviceIPs(svc), nil
		},
		indexByNamespace: cache.MetaNamespaceIndexFunc,
	}); err != nil {
		return nil, fmt.Errorf("service indexers: %w", err)
	}
	slices := factory.Discovery().V1().EndpointSlices().Informer()
	if err := slices.AddIndexers(cache.Indexers{
		indexByServiceName: func(obj any) ([]string, error) {
			s, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return nil, nil
			}
			name := s.Labels[discoveryv1.LabelServiceName]
			if name == "" {
				return nil, nil
			}
			return []string{s.Namespace + "/" + name}, nil
		},
		indexByAddress: func(obj any) ([]string, error) {
			s, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return nil, nil
			}
			return sliceAddresses(s), nil
		},
	}); err != nil {
		return nil, fmt.Errorf("endpointslice indexers: %w", err)
	}
	src := &InformerSource{services: services, slices: slices}
	// The informers call handlers after their stores change, so a version read before
	// an answer is computed is never newer than the data the answer comes from.
	changed := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { src.version.Add(1) },
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(metav1.Object)
			n, okNew := newObj.(metav1.Object)
			if okOld && okNew && o.GetResourceVersion() == n.GetResourceVersion() {
				return // a resync: nothing changed
			}
			src.version.Add(1)
		},
		DeleteFunc: func(any) { src.version.Add(1) },
	}
	for _, inf := range []cache.SharedIndexInformer{services, slices} {
		reg, err := inf.AddEventHandler(changed)
		if err != nil {
			return nil, fmt.Errorf("event handler: %w", err)
		}
		src.handlers = append(src.handlers, reg)
	}
	return src, nil
}

// HasSynced reports whether both caches are filled.
func (s *InformerSource) HasSynced() bool {
	for _, reg := range s.handlers {
		if !reg.HasSynced() {
			return false
		}
	}
	return s.services.HasSynced() && s.slices.HasSynced()
}

// Version implements Versioned.
func (s *InformerSource) Version() uint64 { return s.version.Load() }

// Service implements Source.
func (s *InformerSource) Service(namespace, name string) (*corev1.Service, bool) {
	obj, ok, err := s.services.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return obj.(*corev1.Service), true
}

// EndpointSlices implements Source.
func (s *InformerSource) EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice {
	objs, err := s.slices.GetIndexer().ByIndex(indexByServiceName, namespace+"/"+service)
	if err != nil {
		return nil
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*discoveryv1.EndpointSlice))
	}
	return out
}

// ServicesByIP implements Source.
func (s *InformerSource) ServicesByIP(ip string) []*corev1.Service {
	objs, err := s.services.GetIndexer().ByIndex(indexByClusterIP, ip)
	if err != nil {
		return nil
	}
	out := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Service))
	}
	return out
}

// NamespaceHasServices implements Source.
func (s *InformerSource) NamespaceHasServices(namespace string) bool {
	objs, err := s.services.GetIndexer().ByIndex(indexByNamespace, namespace)
	return err == nil && len(objs) > 0
}

// EndpointSlicesByAddress implements Source.
func (s *InformerSource) EndpointSlicesByAddress(ip string) []*discoveryv1.EndpointSlice {
	objs, err := s.slices.GetIndexer().ByIndex(indexByAddress, ip)
	if err != nil {
		return nil
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*discoveryv1.EndpointSlice))
	}
	return out
}

// serviceIPs are the cluster IPs of svc in canonical form (the keys of reverse lookups).
func serviceIPs(svc *corev1.Service) []string {
	var ips []string
	for _, ip := range svc.Spec.ClusterIPs {
		if addr, err := netip.ParseAddr(ip); err == nil {
			ips = append(ips, addr.String())
		}
	}
	return ips
}

// sliceAddresses are the endpoint addresses of a slice in canonical form, once each.
func sliceAddresses(s *discoveryv1.EndpointSlice) []string {
	var addrs []string
	seen := map[string]bool{}
	for _, ep := range s.Endpoints {
		for _, a := range ep.Addresses {
			if addr, err := netip.ParseAddr(a); err == nil && !seen[addr.String()] {
				seen[addr.String()] = true
				addrs = append(addrs, addr.String())
			}
		}
	}
	return addrs
}
