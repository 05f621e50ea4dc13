package registry

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth/berth/internal/storage"
)

// Storage prefixes of service allocations: one key per reserved IP or node port, created
// only if absent, so concurrent creates can never share one.
const (
	serviceIPPrefix       = "/registry/serviceipallocations/"
	serviceNodePortPrefix = "/registry/servicenodeportallocations/"
)

// ServiceAllocator reserves cluster IPs and node ports for Services.
type ServiceAllocator struct {
	storage storage.Interface
	cidr    netip.Prefix
	// first and size describe the usable addresses: the network address is skipped.
	first     netip.Addr
	size      uint64
	portBase  int
	portCount int
}

// NewServiceAllocator allocates IPs from cidr (e.g. 10.43.0.0/16) and node ports from
// [portBase, portBase+portCount).
func NewServiceAllocator(st storage.Interface, cidr string, portBase, portCount int) (*ServiceAllocator, error) {
	prefix, err := parseServiceCIDR(cidr)
	if err != nil {
		return nil, err
	}
	size := uint64(1)<<(32-prefix.Bits()) - 2 // no network, no broadcast address
	return &ServiceAllocator{
		storage: st, cidr: prefix, first: prefix.Addr().Next(), size: size,
		portBase: portBase, portCount: portCount,
	}, nil
}

func parseServiceCIDR(cidr string) (netip.Prefix, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	prefix = prefix.Masked()
	if !prefix.Addr().Is4() || prefix.Bits() > 29 {
		return netip.Prefix{}, fmt.Errorf("service CIDR %q: need an IPv4 range of at least 8 addresses", cidr)
	}
	return prefix, nil
}

// KubernetesServiceIP is the cluster IP the kubernetes Service gets in the service range
// cidr: its first usable address (NthIP(1)).
func KubernetesServiceIP(cidr string) (netip.Addr, error) {
	prefix, err := parseServiceCIDR(cidr)
	if err != nil {
		return netip.Addr{}, err
	}
	return addrAdd(prefix.Addr(), 1), nil
}

// NthIP returns the n-th usable IP of the range (1 → .1): the kubernetes service gets 1,
// cluster DNS 10.
func (a *ServiceAllocator) NthIP(n uint64) netip.Addr {
	return addrAdd(a.cidr.Addr(), n)
}

func addrAdd(base netip.Addr, n uint64) netip.Addr {
	b := base.As4()
	v := new(big.Int).SetBytes(b[:])
	v.Add(v, new(big.Int).SetUint64(n))
	var out [4]byte
	v.FillBytes(out[:])
	return netip.AddrFrom4(out)
}

// allocOwner names the service a reservation is for (in errors and in the stored value).
type allocOwner struct {
	name string
	key  []byte
}

// serviceHolds is what a service reserves.
type serviceHolds struct {
	ip    string
	ports map[int32]bool
}

func holdsOf(svc *corev1.Service) serviceHolds {
	h := serviceHolds{ports: map[int32]bool{}}
	if svc == nil {
		return h
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone && svc.Spec.Type != corev1.ServiceTypeExternalName {
		h.ip = ip
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			h.ports[p.NodePort] = true
		}
	}
	return h
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// Allocate implements Allocator.
func (a *ServiceAllocator) Allocate(ctx context.Context, obj, oldObj runtime.Object, dryRun bool) (func(), func(), error) {
	svc := obj.(*corev1.Service)
	var old *corev1.Service
	if oldObj != nil {
		old = oldObj.(*corev1.Service)
	}
	had := holdsOf(old)
	var taken []string // keys reserved by this call
	undo := func() {
		for _, k := range taken {
			_, _, _ = a.storage.Delete(context.WithoutCancel(ctx), k, 0)
		}
	}
	fail := func(err error) (func(), func(), error) {
		undo()
		return nil, nil, err
	}
	owner := allocOwner{name: svc.Name, key: []byte(svc.Namespace + "/" + svc.Name)}

	if !needsClusterIP(svc) {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
			svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = nil, nil
		} else {
			svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
			a.setFamilies(svc)
		}
	} else if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP != had.ip {
		if svc.Spec.ClusterIP != "" {
			key, err := a.reserveIP(ctx, svc.Spec.ClusterIP, owner, dryRun)
			if err != nil {
				return fail(err)
			}
			taken = append(taken, key...)
		} else {
			ip, key, err := a.randomIP(ctx, owner, dryRun)
			if err != nil {
				return fail(err)
			}
			svc.Spec.ClusterIP = ip
			taken = append(taken, key...)
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		a.setFamilies(svc)
	} else {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		a.setFamilies(svc)
	}

	inUse := map[int32]bool{}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if !needsNodePorts(svc) {
			if p.NodePort != 0 && svc.Spec.Type != corev1.ServiceTypeClusterIP {
				p.NodePort = 0
			}
			continue
		}
		switch {
		case p.NodePort == 0:
			port, key, err := a.randomPort(ctx, owner, dryRun, inUse)
			if err != nil {
				return fail(err)
			}
			p.NodePort = port
			taken = append(taken, key...)
		case had.ports[p.NodePort] || inUse[p.NodePort]:
			// Held already, or shared by two ports of this service (TCP and UDP).
		default:
			key, err := a.reservePort(ctx, p.NodePort, owner, dryRun, field.NewPath("spec", "ports").Index(i).Child("nodePort"))
			if err != nil {
				return fail(err)
			}
			taken = append(taken, key...)
		}
		inUse[p.NodePort] = true
	}
	now := holdsOf(svc)
	commit := func() {
		if had.ip != "" && had.ip != now.ip {
			a.releaseKey(ctx, serviceIPPrefix+had.ip)
		}
		for port := range had.ports {
			if !now.ports[port] {
				a.releaseKey(ctx, serviceNodePortPrefix+strconv.Itoa(int(port)))
			}
		}
	}
	return commit, undo, nil
}

func (a *ServiceAllocator) setFamilies(svc *corev1.Service) {
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	if svc.Spec.IPFamilyPolicy == nil {
		p := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &p
	}
}

// Release implements Allocator.
func (a *ServiceAllocator) Release(ctx context.Context, obj runtime.Object) {
	h := holdsOf(obj.(*corev1.Service))
	if h.ip != "" {
		a.releaseKey(ctx, serviceIPPrefix+h.ip)
	}
	for port := range h.ports {
		a.releaseKey(ctx, serviceNodePortPrefix+strconv.Itoa(int(port)))
	}
}

func (a *ServiceAllocator) releaseKey(ctx context.Context, key string) {
	_, _, _ = a.storage.Delete(context.WithoutCancel(ctx), key, 0)
}

func ipField() *field.Path { return field.NewPath("spec", "clusterIPs") }

func (a *ServiceAllocator) reserveIP(ctx context.Context, ip string, owner allocOwner, dryRun bool) ([]string, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, invalidService(owner.name, ipField(), []string{ip}, "must be a valid IP")
	}
	if !a.cidr.Contains(addr) || addr == a.cidr.Addr() || addr == addrAdd(a.cidr.Addr(), a.size+1) {
		return nil, invalidService(owner.name, ipField(), []string{ip}, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, a.cidr))
	}
	key := serviceIPPrefix + addr.String()
	if dryRun {
		if _, err := a.storage.Get(ctx, key); err == nil {
			return nil, invalidService(owner.name, ipField(), []string{ip}, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip))
		}
		return nil, nil
	}
	if _, err := a.storage.Create(ctx, key, owner.key); err != nil {
		if errors.Is(err, storage.ErrKeyExists) {
			return nil, invalidService(owner.name, ipField(), []string{ip}, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip))
		}
		return nil, apierrors.NewInternalError(err)
	}
	return []string{key}, nil
}

// randomIP reserves a free IP. Dynamic allocation avoids the lower band of the range
// (the first 1/16, at most 256 addresses), which stays free for static choices as in
// Kubernetes; when the upper band is full it falls back to the whole range.
func (a *ServiceAllocator) randomIP(ctx context.Context, owner allocOwner, dryRun bool) (string, []string, error) {
	reserved := min(max(a.size/16, 16), 256)
	if reserved >= a.size {
		reserved = 0
	}
	try := func(lo, n uint64) (string, []string, bool, error) {
		start := rand.Uint64N(n)
		for i := uint64(0); i < n; i++ {
			ip := addrAdd(a.first, lo+(start+i)%n).String()
			key := serviceIPPrefix + ip
			if dryRun {
				if _, err := a.storage.Get(ctx, key); errors.Is(err, storage.ErrNotFound) {
					return ip, nil, true, nil
				}
				continue
			}
			_, err := a.storage.Create(ctx, key, owner.key)
			if err == nil {
				return ip, []string{key}, true, nil
			}
			if !errors.Is(err, storage.ErrKeyExists) {
				return "", nil, false, apierrors.NewInternalError(err)
			}
		}
		return "", nil, false, nil
	}
	for _, band := range [][2]uint64{{reserved, a.size - reserved}, {0, a.size}} {
		ip, keys, ok, err := try(band[0], band[1])
		if err != nil || ok {
			return ip, keys, err
		}
	}
	return "", nil, invalidService(owner.name, ipField(), nil, fmt.Sprintf("failed to allocate IP: range is full (%s)", a.cidr))
}

func (a *ServiceAllocator) reservePort(ctx context.Context, port int32, owner allocOwner, dryRun bool, path *field.Path) ([]string, error) {
	if int(port) < a.portBase || int(port) >= a.portBase+a.portCount {
		return nil, invalidService(owner.name, path, port, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portBase, a.portBase+a.portCount-1))
	}
	key := serviceNodePortPrefix + strconv.Itoa(int(port))
	if dryRun {
		if _, err := a.storage.Get(ctx, key); err == nil {
			return nil, invalidService(owner.name, path, port, "provided port is already allocated")
		}
		return nil, nil
	}
	if _, err := a.storage.Create(ctx, key, owner.key); err != nil {
		if errors.Is(err, storage.ErrKeyExists) {
			return nil, invalidService(owner.name, path, port, "provided port is already allocated")
		}
		return nil, apierrors.NewInternalError(err)
	}
	return []string{key}, nil
}

func (a *ServiceAllocator) randomPort(ctx context.Context, owner allocOwner, dryRun bool, skip map[int32]bool) (int32, []string, error) {
	start := rand.IntN(a.portCount)
	for i := 0; i < a.portCount; i++ {
		port := int32(a.portBase + (start+i)%a.portCount)
		if skip[port] {
			continue
		}
		keys, err := a.reservePort(ctx, port, owner, dryRun, field.NewPath("spec", "ports"))
		if err == nil {
			return port, keys, nil
		}
		if !apierrors.IsInvalid(err) {
			return 0, nil, err
		}
	}
	return 0, nil, invalidService(owner.name, field.NewPath("spec", "ports"), nil, "failed to allocate a nodePort: range is full")
}

func invalidService(name string, path *field.Path, value any, detail string) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), name, field.ErrorList{field.Invalid(path, value, detail)})
}

// Repair releases reservations no service holds (left by a crash between reserving and
// writing the service). Run it before serving, when no create is in flight.
func (a *ServiceAllocator) Repair(ctx context.Context, services *Store) error {
	list, err := services.List(ctx, "", ListOptions{})
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, svc := range list.(*corev1.ServiceList).Items {
		h := holdsOf(&svc)
		if h.ip != "" {
			held[serviceIPPrefix+h.ip] = true
		}
		for port := range h.ports {
			held[serviceNodePortPrefix+strconv.Itoa(int(port))] = true
		}
	}
	for _, prefix := range []string{serviceIPPrefix, serviceNodePortPrefix} {
		res, err := a.storage.List(ctx, prefix, storage.ListOptions{})
		if err != nil {
			return err
		}
		for _, kv := range res.Items {
			if !held[kv.Key] {
				a.releaseKey(ctx, kv.Key)
			}
		}
	}
	return nil
}

// servicePrepareForUpdate keeps an allocated clusterIP that an update omitted (a PUT of
// a manifest without it), as Kubernetes does.
func servicePrepareForUpdate(newObj, oldObj runtime.Object) {
	svc, old := newObj.(*corev1.Service), oldObj.(*corev1.Service)
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 && old.Spec.ClusterIP != "" &&
		svc.Spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = old.Spec.IPFamilies
		}
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
		}
	}
	// Fields that only external types use go with the type, unless the update set them
	// anew (Kubernetes' dropTypeDependentFields).
	if needsNodePorts(old) && !needsNodePorts(svc) {
		if svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
			svc.Spec.ExternalTrafficPolicy = ""
		}
		if svc.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
			svc.Spec.HealthCheckNodePort = 0
		}
		for i := range svc.Spec.Ports {
			for _, op := range old.Spec.Ports {
				if svc.Spec.Ports[i].NodePort == op.NodePort {
					svc.Spec.Ports[i].NodePort = 0
				}
			}
		}
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer &&
		svc.Spec.AllocateLoadBalancerNodePorts != nil && old.Spec.AllocateLoadBalancerNodePorts != nil &&
		*svc.Spec.AllocateLoadBalancerNodePorts == *old.Spec.AllocateLoadBalancerNodePorts {
		svc.Spec.AllocateLoadBalancerNodePorts = nil
	}
	// Node ports the update omitted stay with their ports (matched by port+protocol).
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range old.Spec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
					p.NodePort = op.NodePort
				}
			}
		}
	}
}
