package registry

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth/berth/internal/registry/defaults"
	regfields "github.com/berth/berth/internal/registry/fields"
	"github.com/berth/berth/internal/registry/printers"
	"github.com/berth/berth/internal/registry/validation"
)

// typed adapts a typed validation function to the Resource signature.
func typed[T runtime.Object](fn func(T) field.ErrorList) func(runtime.Object) field.ErrorList {
	return func(obj runtime.Object) field.ErrorList { return fn(obj.(T)) }
}

// typedUpdate adapts a typed update validation function.
func typedUpdate[T runtime.Object](fn func(T, T) field.ErrorList) func(runtime.Object, runtime.Object) field.ErrorList {
	return func(n, o runtime.Object) field.ErrorList { return fn(n.(T), o.(T)) }
}

func newOf[T any, PT interface {
	*T
	runtime.Object
}]() func() runtime.Object {
	return func() runtime.Object { return PT(new(T)) }
}

// Builtin returns the resources berth serves, each a fresh value.
func Builtin() []*Resource {
	core := corev1.SchemeGroupVersion
	apps := appsv1.SchemeGroupVersion
	tables := printers.New()
	list := []*Resource{
		{
			GroupVersion: core, Name: "namespaces", Kind: "Namespace", Singular: "namespace", ShortNames: []string{"ns"},
			New: newOf[corev1.Namespace](), NewList: newOf[corev1.NamespaceList](),
			HasStatus: true, NameValidation: apivalidation.NameIsDNSLabel,
			PrepareForCreate: func(obj runtime.Object) { defaults.NamespaceOnCreate(obj.(*corev1.Namespace)) },
			Validate:         typed(validation.ValidateNamespace), ValidateUpdate: typedUpdate(validation.ValidateNamespaceUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidateNamespaceStatusUpdate),
			Subresources:         []string{"finalize"},
			CheckDelete:          namespaceCheckDelete,
			BeforeDelete:         namespaceBeforeDelete,
			Finalized:            namespaceFinalized,
		},
		{
			GroupVersion: core, Name: "pods", Kind: "Pod", Singular: "pod", ShortNames: []string{"po"}, Categories: []string{"all"},
			Namespaced: true, New: newOf[corev1.Pod](), NewList: newOf[corev1.PodList](),
			HasStatus: true, TrackGeneration: true,
			PrepareForCreate:     preparePod,
			Validate:             typed(validation.ValidatePod),
			ValidateUpdate:       typedUpdate(validation.ValidatePodUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidatePodStatusUpdate),
			GracefulDelete:       podGracePeriod,
			Subresources:         []string{"binding", "eviction", "log", "exec", "attach", "portforward"},
		},
		{
			GroupVersion: core, Name: "services", Kind: "Service", Singular: "service", ShortNames: []string{"svc"}, Categories: []string{"all"},
			Namespaced: true, New: newOf[corev1.Service](), NewList: newOf[corev1.ServiceList](), HasStatus: true, AllowCreateOnUpdate: true,
			PrepareForUpdate: servicePrepareForUpdate,
			Validate:         typed(validation.ValidateService), ValidateUpdate: typedUpdate(validation.ValidateServiceUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidateServiceStatusUpdate),
		},
		{
			GroupVersion: core, Name: "endpoints", Kind: "Endpoints", Singular: "endpoints", ShortNames: []string{"ep"},
			Namespaced: true, New: newOf[corev1.Endpoints](), NewList: newOf[corev1.EndpointsList](), AllowCreateOnUpdate: true,
			Validate: typed(validation.ValidateEndpoints), ValidateUpdate: typedUpdate(validation.ValidateEndpointsUpdate),
		},
		{
			GroupVersion: core, Name: "nodes", Kind: "Node", Singular: "node", ShortNames: []string{"no"},
			New: newOf[corev1.Node](), NewList: newOf[corev1.NodeList](), HasStatus: true, KeepStatusOnCreate: true,
			Validate: typed(validation.ValidateNode), ValidateUpdate: typedUpdate(validation.ValidateNodeUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidateNodeUpdate),
		},
		{
			GroupVersion: core, Name: "events", Kind: "Event", Singular: "event", ShortNames: []string{"ev"},
			Namespaced: true, New: newOf[corev1.Event](), NewList: newOf[corev1.EventList](), AllowCreateOnUpdate: true,
			Validate: typed(validation.ValidateEvent), ValidateUpdate: typedUpdate(validation.ValidateEventUpdate),
		},
		{
			GroupVersion: core, Name: "configmaps", Kind: "ConfigMap", Singular: "configmap", ShortNames: []string{"cm"},
			Namespaced: true, New: newOf[corev1.ConfigMap](), NewList: newOf[corev1.ConfigMapList](),
			Validate: typed(validation.ValidateConfigMap), ValidateUpdate: typedUpdate(validation.ValidateConfigMapUpdate),
		},
		{
			GroupVersion: core, Name: "secrets", Kind: "Secret", Singular: "secret",
			Namespaced: true, New: newOf[corev1.Secret](), NewList: newOf[corev1.SecretList](),
			Validate: typed(validation.ValidateSecret), ValidateUpdate: typedUpdate(validation.ValidateSecretUpdate),
		},
		{
			GroupVersion: core, Name: "serviceaccounts", Kind: "ServiceAccount", Singular: "serviceaccount", ShortNames: []string{"sa"},
			// token: TokenRequest, answered by the API server (kubectl create token).
			Subresources: []string{"token"},
			Namespaced:   true, New: newOf[corev1.ServiceAccount](), NewList: newOf[corev1.ServiceAccountList](),
			Validate: typed(validation.ValidateServiceAccount), ValidateUpdate: typedUpdate(validation.ValidateServiceAccountUpdate),
		},
		{
			GroupVersion: core, Name: "replicationcontrollers", Kind: "ReplicationController", Singular: "replicationcontroller",
			ShortNames: []string{"rc"}, Categories: []string{"all"},
			Namespaced: true, New: newOf[corev1.ReplicationController](), NewList: newOf[corev1.ReplicationControllerList](),
			HasStatus: true, TrackGeneration: true,
			Validate:             typed(validation.ValidateReplicationController),
			ValidateUpdate:       typedUpdate(validation.ValidateReplicationControllerUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidateReplicationControllerStatusUpdate),
			Scale: &ScaleAccess{
				Get: func(obj runtime.Object) (int32, int32, string) {
					rc := obj.(*corev1.ReplicationController)
					return deref(rc.Spec.Replicas, 1), rc.Status.Replicas, fields.SelectorFromSet(rc.Spec.Selector).String()
				},
				Set: func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
			},
		},
		{
			GroupVersion: apps, Name: "deployments", Kind: "Deployment", Singular: "deployment", ShortNames: []string{"deploy"}, Categories: []string{"all"},
			Namespaced: true, New: newOf[appsv1.Deployment](), NewList: newOf[appsv1.DeploymentList](),
			HasStatus: true, TrackGeneration: true,
			Validate:             typed(validation.ValidateDeployment),
			ValidateUpdate:       typedUpdate(validation.ValidateDeploymentUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidateDeploymentStatusUpdate),
			Scale: &ScaleAccess{
				Get: func(obj runtime.Object) (int32, int32, string) {
					d := obj.(*appsv1.Deployment)
					return deref(d.Spec.Replicas, 1), d.Status.Replicas, selectorString(d.Spec.Selector)
				},
				Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
			},
		},
		{
			GroupVersion: apps, Name: "replicasets", Kind: "ReplicaSet", Singular: "replicaset", ShortNames: []string{"rs"}, Categories: []string{"all"},
			Namespaced: true, New: newOf[appsv1.ReplicaSet](), NewList: newOf[appsv1.ReplicaSetList](),
			HasStatus: true, TrackGeneration: true,
			Validate:             typed(validation.ValidateReplicaSet),
			ValidateUpdate:       typedUpdate(validation.ValidateReplicaSetUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidateReplicaSetStatusUpdate),
			Scale: &ScaleAccess{
				Get: func(obj runtime.Object) (int32, int32, string) {
					rs := obj.(*appsv1.ReplicaSet)
					return deref(rs.Spec.Replicas, 1), rs.Status.Replicas, selectorString(rs.Spec.Selector)
				},
				Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
			},
		},
		{
			GroupVersion: discoveryv1.SchemeGroupVersion, Name: "endpointslices", Kind: "EndpointSlice", Singular: "endpointslice",
			Namespaced: true, New: newOf[discoveryv1.EndpointSlice](), NewList: newOf[discoveryv1.EndpointSliceList](),
			TrackGeneration: true, GenerationFields: []string{"AddressType", "Endpoints", "Ports"},
			Validate: typed(validation.ValidateEndpointSlice), ValidateUpdate: typedUpdate(validation.ValidateEndpointSliceUpdate),
		},
		{
			GroupVersion: coordinationv1.SchemeGroupVersion, Name: "leases", Kind: "Lease", Singular: "lease",
			Namespaced: true, New: newOf[coordinationv1.Lease](), NewList: newOf[coordinationv1.LeaseList](), AllowCreateOnUpdate: true,
			Validate: typed(validation.ValidateLease), ValidateUpdate: typedUpdate(validation.ValidateLeaseUpdate),
			RequireResourceVersion: true,
		},
		{
			GroupVersion: eventsv1.SchemeGroupVersion, Name: "events", Kind: "Event", Singular: "event",
			StorageResource: "events",
			StorageForm:     eventsStorageForm,
			Namespaced:      true, New: newOf[eventsv1.Event](), NewList: newOf[eventsv1.EventList](), AllowCreateOnUpdate: true,
			Validate: typed(validation.ValidateEventsV1Event), ValidateUpdate: typedUpdate(validation.ValidateEventsV1EventUpdate),
		},
		{
			GroupVersion: schedulingv1.SchemeGroupVersion, Name: "priorityclasses", Kind: "PriorityClass", Singular: "priorityclass", ShortNames: []string{"pc"},
			New: newOf[schedulingv1.PriorityClass](), NewList: newOf[schedulingv1.PriorityClassList](),
			// Kubernetes' strategy starts generation at 1 and never bumps it: value and
			// preemptionPolicy, the class's meaning, are immutable.
			PrepareForCreate: func(obj runtime.Object) { obj.(*schedulingv1.PriorityClass).Generation = 1 },
			Validate:         typed(validation.ValidatePriorityClass), ValidateUpdate: typedUpdate(validation.ValidatePriorityClassUpdate),
			CheckDelete: priorityClassCheckDelete,
		},
		{
			GroupVersion: policyv1.SchemeGroupVersion, Name: "poddisruptionbudgets", Kind: "PodDisruptionBudget", Singular: "poddisruptionbudget",
			ShortNames: []string{"pdb"},
			Namespaced: true, New: newOf[policyv1.PodDisruptionBudget](), NewList: newOf[policyv1.PodDisruptionBudgetList](),
			HasStatus: true, TrackGeneration: true,
			Validate:             typed(validation.ValidatePodDisruptionBudget),
			ValidateUpdate:       typedUpdate(validation.ValidatePodDisruptionBudgetUpdate),
			ValidateStatusUpdate: typedUpdate(validation.ValidatePodDisruptionBudgetStatusUpdate),
		},
	}
	for _, res := range list {
		res := res
		gr := res.GroupResource()
		if res.Default == nil {
			res.Default = defaults.Apply
		}
		res.Fields = func(obj runtime.Object) fields.Set {
			set, _ := regfields.Set(obj)
			return set
		}
		res.ConvertFields = func(sel fields.Selector) (fields.Selector, error) { return regfields.Convert(gr, sel) }
		res.Table = func(objs []runtime.Object, opts TableOptions) (*metav1.Table, error) {
			return tables.Table(gr, objs, time.Now(), printers.Options{NoHeaders: opts.NoHeaders})
		}
	}
	return list
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	return s.String()
}

// preparePod sets what a new pod starts with: Pending, its QoS class, and the defaults
// Kubernetes' admission adds (service account, toleration seconds). Priority comes from
// the Priority admission (PriorityAdmission), which reads PriorityClasses.
func preparePod(obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(pod)}
	defaults.DefaultServiceAccount(pod)
	defaults.DefaultTolerationSeconds(pod)
}

// podGracePeriod: pods bound to a node wait for the kubelet (spec grace period unless
// the request gives one); pods never scheduled go at once.
func podGracePeriod(obj runtime.Object, requested *int64) (int64, bool) {
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, true
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if requested != nil {
		grace = *requested
	}
	if grace == 0 {
		// A kubelet-less force delete still gives the kubelet a moment, as Kubernetes does.
		return 0, true
	}
	return grace, true
}

var _ = schema.GroupResource{}
