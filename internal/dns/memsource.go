package dns

import (
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// MemorySource is a Source over objects held in memory, for tests and benchmarks. Its
// indexes are rebuilt on every change, so it suits small change rates only.
type MemorySource struct {
	mu       sync.RWMutex
	services map[objectName]*corev1.Service
	slices   map[objectName]*discoveryv1.EndpointSlice
	index    memoryIndex
	version  atomic.Uint64
}

// objectName is a namespace and name: a map key that needs no string built to look up.
type objectName struct{ namespace, name string }

type memoryIndex struct {
	slicesByService map[objectName][]*discoveryv1.EndpointSlice
	servicesByIP    map[string][]*corev1.Service
	slicesByAddress map[string][]*discoveryv1.EndpointSlice
	namespaces      map[string]bool
}

// NewMemorySource holds services and slices.
func NewMemorySource(services []*corev1.Service, slices []*discoveryv1.EndpointSlice) *MemorySource {
	m := &MemorySource{services: map[objectName]*corev1.Service{}, slices: map[objectName]*discoveryv1.EndpointSlice{}}
	for _, svc := range services {
		m.services[objectName{svc.Namespace, svc.Name}] = svc
	}
	for _, sl := range slices {
		m.slices[objectName{sl.Namespace, sl.Name}] = sl
	}
	m.reindex()
	return m
}

// SetService adds or replaces a service.
func (m *MemorySource) SetService(svc *corev1.Service) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.services[objectName{svc.Namespace, svc.Name}] = svc
	m.reindex()
}

// DeleteService removes a service.
func (m *MemorySource) DeleteService(namespace, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.services, objectName{namespace, name})
	m.reindex()
}

// SetEndpointSlice adds or replaces a slice.
func (m *MemorySource) SetEndpointSlice(slice *discoveryv1.EndpointSlice) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slices[objectName{slice.Namespace, slice.Name}] = slice
	m.reindex()
}

// DeleteEndpointSlice removes a slice.
func (m *MemorySource) DeleteEndpointSlice(namespace, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.slices, objectName{namespace, name})
	m.reindex()
}

// reindex rebuilds the lookup maps; m.mu is held (or m is not yet shared).
func (m *MemorySource) reindex() {
	idx := memoryIndex{
		slicesByService: map[objectName][]*discoveryv1.EndpointSlice{},
		servicesByIP:    map[string][]*corev1.Service{},
		slicesByAddress: map[string][]*discoveryv1.EndpointSlice{},
		namespaces:      map[string]bool{},
	}
	for _, svc := range m.services {
		idx.namespaces[svc.Namespace] = true
		for _, ip := range serviceIPs(svc) {
			idx.servicesByIP[ip] = append(idx.servicesByIP[ip], svc)
		}
	}
	for _, sl := range m.slices {
		if name := sl.Labels[discoveryv1.LabelServiceName]; name != "" {
			key := objectName{sl.Namespace, name}
			idx.slicesByService[key] = append(idx.slicesByService[key], sl)
		}
		for _, addr := range sliceAddresses(sl) {
			idx.slicesByAddress[addr] = append(idx.slicesByAddress[addr], sl)
		}
	}
	m.index = idx
	m.version.Add(1)
}

// Version implements Versioned.
func (m *MemorySource) Version() uint64 { return m.version.Load() }

// Service implements Source.
func (m *MemorySource) Service(namespace, name string) (*corev1.Service, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	svc, ok := m.services[objectName{namespace, name}]
	return svc, ok
}

// EndpointSlices implements Source.
func (m *MemorySource) EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.index.slicesByService[objectName{namespace, service}]
}

// ServicesByIP implements Source.
func (m *MemorySource) ServicesByIP(ip string) []*corev1.Service {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.index.servicesByIP[ip]
}

// EndpointSlicesByAddress implements Source.
func (m *MemorySource) EndpointSlicesByAddress(ip string) []*discoveryv1.EndpointSlice {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.index.slicesByAddress[ip]
}

// NamespaceHasServices implements Source.
func (m *MemorySource) NamespaceHasServices(namespace string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.index.namespaces[namespace]
}
