package endpointslice

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sliceMeta is what every managed slice of one Service carries.
type sliceMeta struct {
	namespace    string
	generateName string
	labels       map[string]string
	owner        metav1.OwnerReference
}

// endpointGroup is the desired endpoints that share one port list (the ports resolved for
// their pods): one group fills one or more slices.
type endpointGroup struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

// plan is what a reconcile decided: slices to create (named by generateName), to update
// (carrying the resourceVersion they were read at) and to delete.
type plan struct {
	create, update, delete []*discoveryv1.EndpointSlice
}

// empty reports whether the plan writes nothing.
func (p plan) empty() bool { return len(p.create)+len(p.update)+len(p.delete) == 0 }

// reconcile turns desired endpoint groups (keyed by portsKey) and the existing managed
// slices of a Service into the writes that make them agree, touching as few slices as it
// can. It is pure: no I/O, inputs are not modified.
func reconcile(meta sliceMeta, desired map[string]*endpointGroup, existing []*discoveryv1.EndpointSlice, maxPerSlice int) plan {
	var p plan
	existingByPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if s.AddressType != discoveryv1.AddressTypeIPv4 || !ownedBy(s, meta.owner.UID) {
			p.delete = append(p.delete, s)
			continue
		}
		key := portsKey(s.Ports)
		existingByPorts[key] = append(existingByPorts[key], s)
	}
	for _, key := range sortedKeys(desired) {
		r := reconcilePorts(meta, desired[key], existingByPorts[key], maxPerSlice)
		p.create = append(p.create, r.create...)
		p.update = append(p.update, r.update...)
		p.delete = append(p.delete, r.delete...)
	}
	for _, key := range sortedKeys(existingByPorts) {
		if _, ok := desired[key]; !ok {
			p.delete = append(p.delete, existingByPorts[key]...)
		}
	}

	// A Service without endpoints keeps one empty placeholder slice, as upstream does, so
	// that readers can tell "no endpoints" from "not processed yet".
	if len(p.create) == 0 && len(p.delete) == len(existing) {
		placeholder := newSlice(meta, nil)
		if len(p.delete) == 1 && isPlaceholderOf(p.delete[0], placeholder) {
			p.delete = nil
		} else {
			p.create = append(p.create, placeholder)
		}
	}
	return reuseDeleted(meta, p)
}

// reconcilePorts reconciles the slices of one port list.
func reconcilePorts(meta sliceMeta, group *endpointGroup, existing []*discoveryv1.EndpointSlice, maxPerSlice int) plan {
	var p plan
	want := newEndpointSet(group.endpoints)
	existing = slices.Clone(existing)
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })

	// 1. Keep every endpoint where it is; drop the ones no longer wanted, refresh the
	// changed ones.
	var unchanged []*discoveryv1.EndpointSlice
	for _, s := range existing {
		changed := false
		kept := make([]discoveryv1.Endpoint, 0, len(s.Endpoints))
		for _, ep := range s.Endpoints {
			d, ok := want.take(endpointKey(&ep))
			if !ok {
				changed = true
				continue
			}
			if !endpointEqual(&d, &ep) {
				changed = true
			}
			kept = append(kept, d)
		}
		switch {
		case changed && len(kept) == 0:
			p.delete = append(p.delete, s)
		case changed || !labelsEqual(s.Labels, meta.labels) || len(s.Endpoints) > maxPerSlice:
			u := withMeta(s, meta)
			u.Endpoints = kept
			p.update = append(p.update, u)
		default:
			unchanged = append(unchanged, s)
		}
	}

	// 2. Slices being written anyway take new endpoints first, fullest first; a slice
	// over the limit (the limit was lowered) sheds its surplus into the pool.
	for _, u := range p.update {
		if len(u.Endpoints) > maxPerSlice {
			want.putBack(u.Endpoints[maxPerSlice:])
			u.Endpoints = u.Endpoints[:maxPerSlice:maxPerSlice]
		}
	}
	slices.SortStableFunc(p.update, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(len(b.Endpoints), len(a.Endpoints)) })
	for _, u := range p.update {
		u.Endpoints = want.fill(u.Endpoints, maxPerSlice)
	}

	// 3. The rest: a remainder smaller than a slice goes into the fullest unchanged slice
	// it fits in; everything else into new slices.
	for want.len() > 0 {
		var target *discoveryv1.EndpointSlice
		if n := want.len(); n < maxPerSlice {
			best := -1
			for i, s := range unchanged {
				if len(s.Endpoints)+n <= maxPerSlice && (best < 0 || len(s.Endpoints) > len(unchanged[best].Endpoints)) {
					best = i
				}
			}
			if best >= 0 {
				target = withMeta(unchanged[best], meta)
				unchanged = slices.Delete(unchanged, best, best+1)
				p.update = append(p.update, target)
			}
		}
		if target == nil {
			target = newSlice(meta, group.ports)
			p.create = append(p.create, target)
		}
		target.Endpoints = want.fill(target.Endpoints, maxPerSlice)
	}
	return p
}

// reuseDeleted turns each delete paired with a create into an update of the deleted slice:
// one write instead of two, and readers never see the Service without a slice.
func reuseDeleted(meta sliceMeta, p plan) plan {
	var deletes []*discoveryv1.EndpointSlice
	for _, d := range p.delete {
		if len(p.create) == 0 || !ownedBy(d, meta.owner.UID) {
			deletes = append(deletes, d)
			continue
		}
		c := p.create[0]
		p.create = p.create[1:]
		u := withMeta(d, meta)
		u.AddressType, u.Ports, u.Endpoints = c.AddressType, c.Ports, c.Endpoints
		p.update = append(p.update, u)
	}
	p.delete = deletes
	slices.SortFunc(p.update, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(p.delete, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	return p
}

func newSlice(meta sliceMeta, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    meta.generateName,
			Namespace:       meta.namespace,
			Labels:          cloneLabels(meta.labels),
			OwnerReferences: []metav1.OwnerReference{meta.owner},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       slices.Clone(ports),
	}
}

// withMeta copies an existing slice (keeping its name and resourceVersion) with the
// Service's labels; the endpoints are left for the caller to set.
func withMeta(s *discoveryv1.EndpointSlice, meta sliceMeta) *discoveryv1.EndpointSlice {
	u := &discoveryv1.EndpointSlice{
		ObjectMeta:  *s.ObjectMeta.DeepCopy(),
		AddressType: s.AddressType,
		Ports:       slices.Clone(s.Ports),
		Endpoints:   slices.Clone(s.Endpoints),
	}
	u.Labels = cloneLabels(meta.labels)
	return u
}

func isPlaceholderOf(s, placeholder *discoveryv1.EndpointSlice) bool {
	return len(s.Endpoints) == 0 && len(s.Ports) == 0 && s.AddressType == placeholder.AddressType &&
		labelsEqual(s.Labels, placeholder.Labels)
}

func ownedBy(s *discoveryv1.EndpointSlice, uid types.UID) bool {
	for _, ref := range s.OwnerReferences {
		if ref.UID == uid && ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}

// endpointEqual compares endpoints field by field; it is the inner loop of every sync, where
// reflection-based comparison dominated the cost. Rare fields fall back to it.
func endpointEqual(a, b *discoveryv1.Endpoint) bool {
	if a.Hints != nil || b.Hints != nil || len(a.DeprecatedTopology)+len(b.DeprecatedTopology) > 0 {
		return apiequality.Semantic.DeepEqual(a, b)
	}
	return slices.Equal(a.Addresses, b.Addresses) &&
		ptrEqual(a.Conditions.Ready, b.Conditions.Ready) &&
		ptrEqual(a.Conditions.Serving, b.Conditions.Serving) &&
		ptrEqual(a.Conditions.Terminating, b.Conditions.Terminating) &&
		ptrEqual(a.Hostname, b.Hostname) && ptrEqual(a.NodeName, b.NodeName) && ptrEqual(a.Zone, b.Zone) &&
		ptrEqual(a.TargetRef, b.TargetRef)
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// endpointKey identifies an endpoint across syncs: its address and the pod it stands for.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addr := ""
	if len(ep.Addresses) > 0 {
		addr = ep.Addresses[0]
	}
	if ep.TargetRef == nil {
		return addr
	}
	return addr + "/" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
}

// portsKey identifies a port list regardless of order.
func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		name, proto, port, app := "", string(corev1.ProtocolTCP), int32(0), ""
		if p.Name != nil {
			name = *p.Name
		}
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		if p.Port != nil {
			port = *p.Port
		}
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		parts = append(parts, name+"/"+proto+"/"+strconv.Itoa(int(port))+"/"+app)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func cloneLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// endpointSet is the desired endpoints not yet placed, in their desired order.
type endpointSet struct {
	order []string
	byKey map[string]discoveryv1.Endpoint
	next  int
}

func newEndpointSet(eps []discoveryv1.Endpoint) *endpointSet {
	s := &endpointSet{byKey: make(map[string]discoveryv1.Endpoint, len(eps))}
	s.putBack(eps)
	return s
}

func (s *endpointSet) len() int { return len(s.byKey) }

// take removes and returns the endpoint with key.
func (s *endpointSet) take(key string) (discoveryv1.Endpoint, bool) {
	ep, ok := s.byKey[key]
	if ok {
		delete(s.byKey, key)
	}
	return ep, ok
}

// putBack adds endpoints to the end of the set (duplicates keep the first).
func (s *endpointSet) putBack(eps []discoveryv1.Endpoint) {
	for _, ep := range eps {
		key := endpointKey(&ep)
		if _, dup := s.byKey[key]; dup {
			continue
		}
		s.byKey[key] = ep
		s.order = append(s.order, key)
	}
}

// fill appends endpoints from the set to eps until it holds max.
func (s *endpointSet) fill(eps []discoveryv1.Endpoint, max int) []discoveryv1.Endpoint {
	for len(eps) < max && len(s.byKey) > 0 && s.next < len(s.order) {
		key := s.order[s.next]
		s.next++
		if ep, ok := s.take(key); ok {
			eps = append(eps, ep)
		}
	}
	return eps
}
