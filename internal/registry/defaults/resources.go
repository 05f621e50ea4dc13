package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// roundResourceList rounds every quantity up to milli scale
// (SetDefaults_ResourceList): the API has always stored "0.0001" as "1m".
func roundResourceList(list *corev1.ResourceList) {
	for name, quantity := range *list {
		const milliScale = -3
		quantity.RoundUp(milliScale)
		(*list)[name] = quantity
	}
}

// requestsFromLimits gives every container without a request for a resource
// a request equal to its limit. Pod-only upstream: templates keep what the
// user wrote.
func requestsFromLimits(containers []corev1.Container) {
	for i := range containers {
		res := &containers[i].Resources
		if res.Limits == nil {
			continue
		}
		if res.Requests == nil {
			res.Requests = make(corev1.ResourceList, len(res.Limits))
		}
		for name, limit := range res.Limits {
			if _, ok := res.Requests[name]; !ok {
				res.Requests[name] = limit.DeepCopy()
			}
		}
	}
}

// defaultPodRequests fills pod-level requests (PodLevelResources, on by
// default since 1.34) when pod-level limits exist: first from what the
// containers request (overcommittable resources only), then from the
// pod-level limits for whatever is still missing.
func defaultPodRequests(pod *corev1.Pod) {
	if pod.Spec.Resources == nil || len(pod.Spec.Resources.Limits) == 0 {
		return
	}
	podRequests := pod.Spec.Resources.Requests
	if podRequests == nil {
		podRequests = make(corev1.ResourceList)
	}
	containerRequests := resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{})
	for name, quantity := range containerRequests {
		if _, ok := podRequests[name]; !ok && resourcehelper.IsSupportedPodLevelResource(name) && isOvercommitAllowed(name) {
			podRequests[name] = quantity.DeepCopy()
		}
	}
	for name, limit := range pod.Spec.Resources.Limits {
		if _, ok := podRequests[name]; !ok && resourcehelper.IsSupportedPodLevelResource(name) {
			podRequests[name] = limit.DeepCopy()
		}
	}
	if len(podRequests) > 0 {
		pod.Spec.Resources.Requests = podRequests
	}
}

// defaultHugePagePodLimits sets pod-level hugepage limits to the sum of the
// containers' hugepage limits when pod-level resources are partly given and
// the pod names no request for that hugepage size.
func defaultHugePagePodLimits(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || len(res.Limits) == 0 && len(res.Requests) == 0 {
		return
	}
	podLimits := res.Limits
	if podLimits == nil {
		podLimits = make(corev1.ResourceList)
	}
	containerLimits := resourcehelper.AggregateContainerLimits(pod, resourcehelper.PodResourcesOptions{})
	for name, quantity := range containerLimits {
		if !resourcehelper.IsSupportedPodLevelResource(name) || !isHugePage(name) {
			continue
		}
		if _, ok := res.Requests[name]; ok {
			continue
		}
		if _, ok := podLimits[name]; !ok {
			podLimits[name] = quantity.DeepCopy()
		}
	}
	if len(podLimits) > 0 {
		res.Limits = podLimits
	}
}

func isHugePage(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isOvercommitAllowed matches k8s.io/kubernetes' helper: native resources
// (unprefixed or under kubernetes.io/) other than hugepages.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	native := !strings.Contains(string(name), "/") ||
		strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
	return native && !isHugePage(name)
}
