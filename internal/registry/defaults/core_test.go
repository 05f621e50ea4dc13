package defaults

import (
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func TestCoreObjects(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name string
		in   runtime.Object
		want runtime.Object
	}{{
		name: "namespace gets name label and Active",
		in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"x": "y"}}},
		want: &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"x": "y", "kubernetes.io/metadata.name": "team-a"}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		},
	}, {
		name: "namespace label overrides a forged one; Terminating kept",
		in: &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"kubernetes.io/metadata.name": "forged"}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
		},
		want: &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"kubernetes.io/metadata.name": "b"}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
		},
	}, {
		name: "namespace without a name yet gets no label",
		in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}},
		want: &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		},
	}, {
		name: "node allocatable from capacity, podCIDRs from podCIDR",
		in: &corev1.Node{
			Spec:   corev1.NodeSpec{PodCIDR: "10.42.1.0/24"},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": q("4"), "memory": q("8Gi")}},
		},
		want: &corev1.Node{
			Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24"}},
			Status: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{"cpu": q("4"), "memory": q("8Gi")},
				Allocatable: corev1.ResourceList{"cpu": q("4"), "memory": q("8Gi")},
			},
		},
	}, {
		name: "node podCIDR from podCIDRs",
		in:   &corev1.Node{Spec: corev1.NodeSpec{PodCIDRs: []string{"10.42.1.0/24", "fd00:42:1::/64"}}},
		want: &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24", "fd00:42:1::/64"}}},
	}, {
		name: "secret Opaque with stringData folded into data",
		in: &corev1.Secret{
			Data:       map[string][]byte{"a": []byte("old"), "b": []byte("keep")},
			StringData: map[string]string{"a": "new", "c": "added"},
		},
		want: &corev1.Secret{
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"a": []byte("new"), "b": []byte("keep"), "c": []byte("added")},
		},
	}, {
		name: "secret type kept",
		in:   &corev1.Secret{Type: corev1.SecretTypeTLS, StringData: map[string]string{"tls.crt": "x"}},
		want: &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("x")}},
	}, {
		name: "configmap data becomes an empty map",
		in:   &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
		want: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{}},
	}, {
		name: "replication controller from template labels",
		in: &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:2"}}},
			},
		}},
		want: &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr.To[int32](1),
				Selector: map[string]string{"app": "web"},
				Template: &corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: defaultedPodSpec(corev1.PodSpec{Containers: []corev1.Container{
						defaultedContainer("c", "web:2", corev1.PullIfNotPresent),
					}}),
				},
			},
		},
	}, {
		name: "replication controller keeps its selector, labels and replicas",
		in: &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "me"}},
			Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr.To[int32](0),
				Selector: map[string]string{"app": "web", "tier": "a"},
				Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "a"}}},
			},
		},
		want: &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "me"}},
			Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr.To[int32](0),
				Selector: map[string]string{"app": "web", "tier": "a"},
				Template: &corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "a"}},
					Spec:       defaultedPodSpec(corev1.PodSpec{}),
				},
			},
		},
	}, {
		name: "replication controller without template",
		in:   &corev1.ReplicationController{},
		want: &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](1)}},
	}, {
		name: "persistent volume claim",
		in: &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
			Requests: corev1.ResourceList{"storage": q("1Gi")},
		}}},
		want: &corev1.PersistentVolumeClaim{
			Spec: corev1.PersistentVolumeClaimSpec{
				VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem),
				Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": q("1Gi")}},
			},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		},
	}, {
		name: "persistent volume",
		in: &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}},
		}},
		want: &corev1.PersistentVolume{
			Spec: corev1.PersistentVolumeSpec{
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv", Type: ptr.To(corev1.HostPathUnset)}},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
		},
	}, {
		name: "limit range container defaults",
		in: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			Max:  corev1.ResourceList{"cpu": q("2")},
			Min:  corev1.ResourceList{"memory": q("64Mi")},
		}}}},
		want: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Max:            corev1.ResourceList{"cpu": q("2")},
			Min:            corev1.ResourceList{"memory": q("64Mi")},
			Default:        corev1.ResourceList{"cpu": q("2")},
			DefaultRequest: corev1.ResourceList{"cpu": q("2"), "memory": q("64Mi")},
		}}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDefaults(t, tt.in, tt.want)
		})
	}
}

func TestTypesWithoutDefaultsAreUntouched(t *testing.T) {
	for _, obj := range []runtime.Object{
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Event{Reason: "Started"},
		&eventsv1.Event{Reason: "Started"},
		&metav1.Status{},
	} {
		t.Run(typeName(obj), func(t *testing.T) {
			checkUnchanged(t, obj)
		})
	}
}

func typeName(obj runtime.Object) string {
	switch obj.(type) {
	case *coordinationv1.Lease:
		return "Lease"
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	case *corev1.Event:
		return "Event"
	case *eventsv1.Event:
		return "events.k8s.io/Event"
	default:
		return "Status"
	}
}

func TestReplicationControllerDoesNotAliasTemplateLabels(t *testing.T) {
	rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{
		Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}},
	}}
	Apply(rc)
	rc.Spec.Template.Labels["app"] = "changed"
	if rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" {
		t.Fatalf("selector %v / labels %v follow a later template edit", rc.Spec.Selector, rc.Labels)
	}
}
