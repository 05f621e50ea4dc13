package fields

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// Set returns the fields a field selector is matched against for obj, as
// the upstream registries compute them. Objects of other types get
// metadata.name and metadata.namespace. It reports false when obj has no
// object metadata (a list or a Status), which cannot be selected.
func Set(obj runtime.Object) (fields.Set, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return podFields(o), true
	case *corev1.Node:
		return merge(clusterMeta(&o.ObjectMeta), fields.Set{
			"spec.unschedulable": strconv.FormatBool(o.Spec.Unschedulable),
		}), true
	case *corev1.Namespace:
		return merge(clusterMeta(&o.ObjectMeta), fields.Set{
			"status.phase": string(o.Status.Phase),
			// Upstream keeps this unprefixed field for backward compatibility.
			"name": o.Name,
		}), true
	case *corev1.ReplicationController:
		return merge(namespacedMeta(&o.ObjectMeta), fields.Set{
			"status.replicas": strconv.Itoa(int(o.Status.Replicas)),
		}), true
	case *appsv1.ReplicaSet:
		return merge(namespacedMeta(&o.ObjectMeta), fields.Set{
			"status.replicas": strconv.Itoa(int(o.Status.Replicas)),
		}), true
	case *corev1.Secret:
		return merge(namespacedMeta(&o.ObjectMeta), fields.Set{"type": string(o.Type)}), true
	case *corev1.Service:
		return merge(namespacedMeta(&o.ObjectMeta), fields.Set{
			"spec.clusterIP": o.Spec.ClusterIP,
			"spec.type":      string(o.Spec.Type),
		}), true
	case *corev1.Event:
		return coreEventFields(o), true
	case *eventsv1.Event:
		return eventsV1Fields(o), true
	case *batchv1.Job:
		return merge(namespacedMeta(&o.ObjectMeta), fields.Set{
			"status.successful": strconv.Itoa(int(o.Status.Succeeded)),
		}), true
	case *certificatesv1.CertificateSigningRequest:
		return merge(clusterMeta(&o.ObjectMeta), fields.Set{"spec.signerName": o.Spec.SignerName}), true
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	// For a cluster-scoped object the namespace is "", which matches a
	// selector exactly as an absent field would.
	return fields.Set{
		"metadata.name":      accessor.GetName(),
		"metadata.namespace": accessor.GetNamespace(),
	}, true
}

func namespacedMeta(m *metav1.ObjectMeta) fields.Set {
	return fields.Set{"metadata.name": m.Name, "metadata.namespace": m.Namespace}
}

func clusterMeta(m *metav1.ObjectMeta) fields.Set {
	return fields.Set{"metadata.name": m.Name}
}

func merge(into, from fields.Set) fields.Set {
	for k, v := range from {
		into[k] = v
	}
	return into
}

// podFields mirrors pkg/registry/core/pod ToSelectableFields. There is no
// status.podIPs field, even though the label is accepted.
func podFields(pod *corev1.Pod) fields.Set {
	podIP := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return merge(namespacedMeta(&pod.ObjectMeta), fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	})
}

// eventFields is pkg/registry/core/event ToSelectableFields over the fields
// both Event versions share; source falls back to the reporting controller.
func eventFields(m *metav1.ObjectMeta, involved *corev1.ObjectReference, reason, reportingController, sourceComponent, eventType string) fields.Set {
	source := sourceComponent
	if source == "" {
		source = reportingController
	}
	return merge(namespacedMeta(m), fields.Set{
		"involvedObject.kind":            involved.Kind,
		"involvedObject.namespace":       involved.Namespace,
		"involvedObject.name":            involved.Name,
		"involvedObject.uid":             string(involved.UID),
		"involvedObject.apiVersion":      involved.APIVersion,
		"involvedObject.resourceVersion": involved.ResourceVersion,
		"involvedObject.fieldPath":       involved.FieldPath,
		"reason":                         reason,
		"reportingComponent":             reportingController,
		"source":                         source,
		"type":                           eventType,
	})
}

func coreEventFields(e *corev1.Event) fields.Set {
	return eventFields(&e.ObjectMeta, &e.InvolvedObject, e.Reason, e.ReportingController, e.Source.Component, e.Type)
}

// eventsV1Fields names events.k8s.io fields as core/v1 does: regarding is
// involvedObject, reportingController is reportingComponent.
func eventsV1Fields(e *eventsv1.Event) fields.Set {
	return eventFields(&e.ObjectMeta, &e.Regarding, e.Reason, e.ReportingController, e.DeprecatedSource.Component, e.Type)
}
