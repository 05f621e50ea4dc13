package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Apply applies the API defaults of obj's Go type in place, as the API
// server does to every object it decodes for create or update. Types
// without API defaults (Lease, Event, ServiceAccount, ...) and types this
// package does not know are left untouched. Applying twice changes nothing
// more.
func Apply(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		Pod(o)
	case *corev1.PodTemplate:
		PodTemplate(o)
	case *corev1.Service:
		Service(o)
	case *corev1.Endpoints:
		Endpoints(o)
	case *corev1.Namespace:
		Namespace(o)
	case *corev1.Node:
		Node(o)
	case *corev1.Secret:
		Secret(o)
	case *corev1.ConfigMap:
		ConfigMap(o)
	case *corev1.ReplicationController:
		ReplicationController(o)
	case *corev1.PersistentVolume:
		PersistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		PersistentVolumeClaim(o)
	case *corev1.LimitRange:
		LimitRange(o)
	case *corev1.ResourceQuota:
		ResourceQuota(o)
	case *discoveryv1.EndpointSlice:
		EndpointSlice(o)
	case *appsv1.Deployment:
		Deployment(o)
	case *appsv1.ReplicaSet:
		ReplicaSet(o)
	case *appsv1.DaemonSet:
		DaemonSet(o)
	case *appsv1.StatefulSet:
		StatefulSet(o)
	case *schedulingv1.PriorityClass:
		PriorityClass(o)
	}
}
