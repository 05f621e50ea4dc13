package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func webTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
	}
}

func defaultedWebTemplate() corev1.PodTemplateSpec {
	t := webTemplate()
	t.Spec = defaultedPodSpec(corev1.PodSpec{Containers: []corev1.Container{
		defaultedContainer("web", "nginx:1.27", corev1.PullIfNotPresent),
	}})
	return t
}

func TestDeployment(t *testing.T) {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tests := []struct {
		name string
		in   appsv1.DeploymentSpec
		want appsv1.DeploymentSpec
	}{{
		name: "minimal",
		in:   appsv1.DeploymentSpec{Selector: selector, Template: webTemplate()},
		want: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: selector,
			Template: defaultedWebTemplate(),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}, {
		name: "partial rolling update keeps what is given",
		in: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(0))}},
		},
		want: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: defaultedPodSpec(corev1.PodSpec{})},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")),
					MaxSurge:       ptr.To(intstr.FromInt32(0)),
				},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}, {
		name: "Recreate gets no rolling parameters",
		in:   appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}},
		want: appsv1.DeploymentSpec{
			Replicas:                ptr.To[int32](1),
			Template:                corev1.PodTemplateSpec{Spec: defaultedPodSpec(corev1.PodSpec{})},
			Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDefaults(t, &appsv1.Deployment{Spec: tt.in}, &appsv1.Deployment{Spec: tt.want})
		})
	}
}

func TestReplicaSet(t *testing.T) {
	in := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: webTemplate()}}
	want := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Template: defaultedWebTemplate()}}
	checkDefaults(t, in, want)

	kept := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Template: defaultedWebTemplate()}}
	checkUnchanged(t, kept)
}

func TestDaemonSet(t *testing.T) {
	in := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: webTemplate()}}
	want := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
		Template: defaultedWebTemplate(),
		UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
			Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{
				MaxUnavailable: ptr.To(intstr.FromInt32(1)),
				MaxSurge:       ptr.To(intstr.FromInt32(0)),
			},
		},
		RevisionHistoryLimit: ptr.To[int32](10),
	}}
	checkDefaults(t, in, want)
}

func TestStatefulSet(t *testing.T) {
	in := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
		Template:             webTemplate(),
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
	}}
	want := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
		Replicas:            ptr.To[int32](1),
		Template:            defaultedWebTemplate(),
		PodManagementPolicy: appsv1.OrderedReadyPodManagement,
		UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
			Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{
				Partition:      ptr.To[int32](0),
				MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			},
		},
		PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		},
		RevisionHistoryLimit: ptr.To[int32](10),
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec:       corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem)},
			Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		}},
	}}
	checkDefaults(t, in, want)

	t.Run("OnDelete gets no rolling parameters", func(t *testing.T) {
		in := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
		}}
		got := in.DeepCopy()
		Apply(got)
		if got.Spec.UpdateStrategy.RollingUpdate != nil {
			t.Fatalf("rollingUpdate = %+v, want nil", got.Spec.UpdateStrategy.RollingUpdate)
		}
	})
}
