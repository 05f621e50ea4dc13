package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestResized(t *testing.T) {
	container := func(image, cpuRequest, memLimit string) corev1.Container {
		c := corev1.Container{Name: "app", Image: image}
		if cpuRequest != "" {
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuRequest)}
		}
		if memLimit != "" {
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memLimit)}
		}
		return c
	}
	base := container("app:0.3.2", "1", "128Mi")
	tests := []struct {
		name string
		cur  []corev1.Container
		want bool
	}{
		{name: "unchanged", cur: []corev1.Container{base}},
		{name: "same value, other spelling", cur: []corev1.Container{container("app:0.3.2", "1000m", "131072Ki")}},
		{name: "new image only", cur: []corev1.Container{container("app:0.3.3", "1", "128Mi")}},
		{name: "request lowered", cur: []corev1.Container{container("app:0.3.2", "500m", "128Mi")}, want: true},
		{name: "limit raised", cur: []corev1.Container{container("app:0.3.2", "1", "256Mi")}, want: true},
		{name: "request dropped", cur: []corev1.Container{container("app:0.3.2", "", "128Mi")}, want: true},
		{name: "other resource instead", cur: []corev1.Container{{Name: "app", Image: "app:0.3.2", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1")},
			Limits:   base.Resources.Limits,
		}}}, want: true},
		{name: "container added", cur: []corev1.Container{base, container("busybox", "", "")}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := resized([]corev1.Container{base}, tc.cur); got != tc.want {
				t.Errorf("resized = %v, want %v", got, tc.want)
			}
		})
	}
}
