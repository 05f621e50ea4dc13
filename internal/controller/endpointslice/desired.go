package endpointslice

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/podutil"
)

// ControllerName is the value of the managed-by label on the slices this package owns.
const ControllerName = "endpointslice-controller.k8s.io"

// headlessLabel marks the slices and Endpoints of a headless Service.
const headlessLabel = corev1.IsHeadlessService

// isHeadless reports clusterIP: None.
func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// hasSelector reports whether the Service's endpoints are ours to publish: ExternalName
// Services and Services without a selector have user-managed endpoints (or none).
func hasSelector(svc *corev1.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// sliceMetaFor returns what every managed slice of svc carries: the Service's own labels,
// the service-name and managed-by labels, the headless label, and a controller reference.
func sliceMetaFor(svc *corev1.Service) sliceMeta {
	labels := make(map[string]string, len(svc.Labels)+3)
	for k, v := range svc.Labels {
		switch k {
		case discoveryv1.LabelServiceName, discoveryv1.LabelManagedBy, headlessLabel:
			continue
		}
		labels[k] = v
	}
	labels[discoveryv1.LabelServiceName] = svc.Name
	labels[discoveryv1.LabelManagedBy] = ControllerName
	if isHeadless(svc) {
		labels[headlessLabel] = ""
	}
	return sliceMeta{
		namespace:    svc.Namespace,
		generateName: svc.Name + "-",
		labels:       labels,
		owner:        *metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service")),
	}
}

// desiredGroups turns the pods svc selects into endpoints grouped by their resolved port
// list. zoneOf returns a node's topology zone ("" when unknown).
func desiredGroups(svc *corev1.Service, pods []*corev1.Pod, zoneOf func(node string) string) map[string]*endpointGroup {
	pods = slices.Clone(pods)
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	groups := map[string]*endpointGroup{}
	// Most pods of a Service resolve its ports alike: look groups up by the resolved
	// numbers and build port lists only for new combinations.
	byResolution := map[string]*endpointGroup{}
	zones := map[string]string{}
	cachedZone := func(node string) string {
		zone, ok := zones[node]
		if !ok {
			zone = zoneOf(node)
			zones[node] = zone
		}
		return zone
	}
	var resolution []byte
	for _, pod := range pods {
		if !isEndpoint(pod, true) {
			continue
		}
		resolution = resolutionKey(resolution[:0], svc, pod)
		g := byResolution[string(resolution)]
		if g == nil {
			ports := endpointPorts(svc, pod)
			key := portsKey(ports)
			if g = groups[key]; g == nil {
				g = &endpointGroup{ports: ports}
				groups[key] = g
			}
			byResolution[string(resolution)] = g
		}
		g.endpoints = append(g.endpoints, podEndpoint(svc, pod, cachedZone))
	}
	return groups
}

// resolutionKey appends the pod's resolved number for each service port ('-' when it
// has none) to buf.
func resolutionKey(buf []byte, svc *corev1.Service, pod *corev1.Pod) []byte {
	for i := range svc.Spec.Ports {
		if n, err := targetPort(pod, &svc.Spec.Ports[i]); err == nil {
			buf = strconv.AppendInt(buf, int64(n), 10)
		} else {
			buf = append(buf, '-')
		}
		buf = append(buf, ',')
	}
	return buf
}

// endpointPorts resolves the Service's ports for one pod; a port the pod cannot serve
// (a named target port it lacks) is left out, as upstream does.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	var ports []discoveryv1.EndpointPort
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
		ports = append(ports, discoveryv1.EndpointPort{
			Name: ptr.To(sp.Name), Port: ptr.To(n), Protocol: ptr.To(proto), AppProtocol: sp.AppProtocol,
		})
	}
	return ports
}

// podEndpoint is the endpoint one pod publishes. A terminating pod stays (ready=false,
// serving by its readiness) so that proxies can drain it; publishNotReadyAddresses makes
// every pod ready.
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, zoneOf func(node string) string) discoveryv1.Endpoint {
	serving := svc.Spec.PublishNotReadyAddresses || podutil.IsReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses: []string{podIPv4(pod)},
		Conditions: discoveryv1.EndpointConditions{
			Ready: ptr.To(ready), Serving: ptr.To(serving), Terminating: ptr.To(terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if h := hostnameFor(pod, svc); h != "" {
		ep.Hostname = ptr.To(h)
	}
	if pod.Spec.NodeName != "" {
		ep.NodeName = ptr.To(pod.Spec.NodeName)
		if zone := zoneOf(pod.Spec.NodeName); zone != "" {
			ep.Zone = ptr.To(zone)
		}
	}
	return ep
}
