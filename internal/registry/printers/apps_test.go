package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func apps(resource string) schema.GroupResource {
	return schema.GroupResource{Group: "apps", Resource: resource}
}

func TestAppsColumns(t *testing.T) {
	name, age := col{"Name", "string", 0}, col{"Age", "string", 0}
	template := []col{{"Containers", "string", 1}, {"Images", "string", 1}, {"Selector", "string", 1}}
	assertColumns(t, apps("replicasets"), append([]col{name,
		{"Desired", "integer", 0}, {"Current", "integer", 0}, {"Ready", "integer", 0}, age}, template...))
	assertColumns(t, apps("deployments"), append([]col{name,
		{"Ready", "string", 0}, {"Up-to-date", "string", 0}, {"Available", "string", 0}, age}, template...))
}

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "app", Image: "web:2"}, {Name: "proxy", Image: "nginx:1.27"},
	}}}
}

func TestReplicaSetRows(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: objectMeta("web-5d4f8", 7*time.Minute),
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "5d4f8"}},
			Template: podTemplate(),
		},
		Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1},
	}
	assertCells(t, printRow(t, apps("replicasets"), rs).Cells, []interface{}{
		"web-5d4f8", int64(3), int64(3), int64(1), "7m", "app,proxy", "web:2,nginx:1.27", "app=web,pod-template-hash=5d4f8"})

	scaledDown := &appsv1.ReplicaSet{ObjectMeta: objectMeta("old", 9*24*time.Hour)}
	assertCells(t, printRow(t, apps("replicasets"), scaledDown).Cells, []interface{}{
		"old", int64(0), int64(0), int64(0), "9d", "", "", "<none>"})
}

func TestDeploymentRows(t *testing.T) {
	deployment := func(mutate func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: objectMeta("web", 26*time.Hour),
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(3)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: podTemplate(),
			},
			Status: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3},
		}
		if mutate != nil {
			mutate(d)
		}
		return d
	}
	tests := []struct {
		name       string
		deployment *appsv1.Deployment
		want       []interface{}
	}{
		{
			name:       "available",
			deployment: deployment(nil),
			want:       []interface{}{"web", "3/3", int64(3), int64(3), "26h", "app,proxy", "web:2,nginx:1.27", "app=web"},
		},
		{
			name: "rolling out",
			deployment: deployment(func(d *appsv1.Deployment) {
				d.Spec.Replicas = ptr(int32(4))
				d.Status = appsv1.DeploymentStatus{Replicas: 5, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3}
			}),
			want: []interface{}{"web", "3/4", int64(2), int64(3), "26h", "app,proxy", "web:2,nginx:1.27", "app=web"},
		},
		{
			name: "set-based selector",
			deployment: deployment(func(d *appsv1.Deployment) {
				d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"fe", "api"}},
				}}
			}),
			want: []interface{}{"web", "3/3", int64(3), int64(3), "26h", "app,proxy", "web:2,nginx:1.27", "tier in (api,fe)"},
		},
		{
			name: "invalid selector",
			deployment: deployment(func(d *appsv1.Deployment) {
				d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Bogus"}}}
			}),
			want: []interface{}{"web", "3/3", int64(3), int64(3), "26h", "app,proxy", "web:2,nginx:1.27", "<invalid>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCells(t, printRow(t, apps("deployments"), tc.deployment).Cells, tc.want)
		})
	}
}
