package defaults

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Namespace applies the namespace defaults: the kubernetes.io/metadata.name
// label (not for generateName-only objects, which have no name yet) and
// status.phase Active.
func Namespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// Node applies the node defaults: allocatable copied from capacity when
// absent, quantities rounded, and spec.podCIDR/podCIDRs made consistent.
func Node(node *corev1.Node) {
	status := &node.Status
	if status.Allocatable == nil && status.Capacity != nil {
		status.Allocatable = status.Capacity.DeepCopy()
	}
	roundResourceList(&status.Capacity)
	roundResourceList(&status.Allocatable)
	nodePodCIDRs(&node.Spec)
}

// Secret applies the Secret defaults: type Opaque, and stringData folded
// into data.
func Secret(secret *corev1.Secret) {
	if secret.Type == "" {
		secret.Type = corev1.SecretTypeOpaque
	}
	secretStringData(secret)
}

// ConfigMap applies SetDefaults_ConfigMap: a nil data becomes an empty map
// (invisible on the wire, visible to code that compares objects).
func ConfigMap(cm *corev1.ConfigMap) {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

// ReplicationController applies the RC defaults: one replica, selector and
// labels taken from the template labels when empty, template PodSpec
// defaults. Upstream shares the template's label map; copies keep a later
// edit of one from changing the other.
func ReplicationController(rc *corev1.ReplicationController) {
	var templateLabels map[string]string
	if rc.Spec.Template != nil {
		templateLabels = rc.Spec.Template.Labels
	}
	if templateLabels != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = maps.Clone(templateLabels)
		}
		if len(rc.Labels) == 0 {
			rc.Labels = maps.Clone(templateLabels)
		}
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptr.To[int32](1)
	}
	if rc.Spec.Template != nil {
		PodSpec(&rc.Spec.Template.Spec)
	}
}

// LimitRange applies SetDefaults_LimitRangeItem to every container item:
// the default limit falls back to max, the default request to the default
// limit and then to min.
func LimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			if item.Default == nil {
				item.Default = make(corev1.ResourceList)
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = make(corev1.ResourceList)
			}
			fillMissing(item.Default, item.Max)
			fillMissing(item.DefaultRequest, item.Default)
			fillMissing(item.DefaultRequest, item.Min)
		}
		roundResourceList(&item.Max)
		roundResourceList(&item.Min)
		roundResourceList(&item.Default)
		roundResourceList(&item.DefaultRequest)
		roundResourceList(&item.MaxLimitRequestRatio)
	}
}

func fillMissing(dst, src corev1.ResourceList) {
	for name, quantity := range src {
		if _, ok := dst[name]; !ok {
			dst[name] = quantity.DeepCopy()
		}
	}
}

// ResourceQuota rounds the quota's quantities.
func ResourceQuota(rq *corev1.ResourceQuota) {
	roundResourceList(&rq.Spec.Hard)
	roundResourceList(&rq.Status.Hard)
	roundResourceList(&rq.Status.Used)
}
