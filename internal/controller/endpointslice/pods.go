package endpointslice

import (
	"fmt"
	"net/netip"
	"reflect"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth/berth/internal/podutil"
)

// podIPv4 returns the pod's IPv4 address, or "" when it has none yet.
func podIPv4(pod *corev1.Pod) string {
	for _, ip := range pod.Status.PodIPs {
		if addr, err := netip.ParseAddr(ip.IP); err == nil && addr.Is4() {
			return ip.IP
		}
	}
	if addr, err := netip.ParseAddr(pod.Status.PodIP); err == nil && addr.Is4() {
		return pod.Status.PodIP
	}
	return ""
}

// isEndpoint reports whether a pod is published at all (upstream's ShouldPodBeInEndpoints):
// finished pods and pods without an address are not; terminating pods only when the caller
// includes them (slices always do, legacy Endpoints only under publishNotReadyAddresses).
func isEndpoint(pod *corev1.Pod, includeTerminating bool) bool {
	if podutil.IsTerminal(pod) || podIPv4(pod) == "" {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// hostnameFor returns the DNS hostname the pod publishes for svc: only a pod whose
// subdomain names the service gets a record under it.
func hostnameFor(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// targetPort resolves a service port against one pod: a number is taken as is, a name is
// looked up among the pod's container ports (sidecar init containers included) with the
// same protocol. Pods of one Service may resolve one name to different numbers.
func targetPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	if tp.StrVal == "" && tp.IntVal == 0 {
		return sp.Port, nil
	}
	if tp.StrVal == "" {
		return tp.IntVal, nil
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	find := func(containers []corev1.Container, sidecarsOnly bool) (int32, bool) {
		for _, c := range containers {
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == tp.StrVal && pp == proto {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if n, ok := find(pod.Spec.Containers, false); ok {
		return n, nil
	}
	if n, ok := find(pod.Spec.InitContainers, true); ok {
		return n, nil
	}
	return 0, fmt.Errorf("pod %s/%s has no %s container port named %q", pod.Namespace, pod.Name, proto, tp.StrVal)
}

// podChanged reports whether an update can change what a pod publishes: its labels (and
// so its services), address, readiness, termination, hostname or node.
func podChanged(oldPod, newPod *corev1.Pod) (labelsChanged, endpointChanged bool) {
	labelsChanged = !reflect.DeepEqual(oldPod.Labels, newPod.Labels)
	endpointChanged = labelsChanged ||
		(oldPod.DeletionTimestamp == nil) != (newPod.DeletionTimestamp == nil) ||
		podutil.IsReady(oldPod) != podutil.IsReady(newPod) ||
		podutil.IsTerminal(oldPod) != podutil.IsTerminal(newPod) ||
		podIPv4(oldPod) != podIPv4(newPod) ||
		oldPod.Spec.Hostname != newPod.Spec.Hostname ||
		oldPod.Spec.Subdomain != newPod.Spec.Subdomain ||
		oldPod.Spec.NodeName != newPod.Spec.NodeName
	return labelsChanged, endpointChanged
}
