package apiserver

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestStatusTrackingIgnoresSpec: recording a status update without the objects' spec
// gives exactly the managed fields the full comparison gives — also when the update
// carries a stale spec and when it takes fields from another manager.
func TestStatusTrackingIgnoresSpec(t *testing.T) {
	fms, _ := fieldManagersOf(t, "", "pods")

	created := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1",
			Env: []corev1.EnvVar{{Name: "A", Value: "1"}}}}},
	}
	live := fms.main.UpdateNoErrors(&corev1.Pod{TypeMeta: created.TypeMeta}, created, "creator").(*corev1.Pod)

	steps := []struct {
		manager string
		change  func(*corev1.Pod)
	}{
		{"kubelet", func(p *corev1.Pod) {
			p.Status.Phase, p.Status.PodIP = corev1.PodRunning, "10.42.0.5"
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}},
		{"kubelet", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "app:stale" // a stale spec in a status update changes nothing
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "app:1"}}
		}},
		{"other", func(p *corev1.Pod) {
			p.Status.Conditions[0].Status = corev1.ConditionFalse // kubelet's field, taken
			p.Status.Message = "checked"
		}},
		{"kubelet", func(p *corev1.Pod) { p.Status.PodIP = "" }}, // a removed field
		{"kubelet", func(p *corev1.Pod) { // metadata in a status update changes nothing either
			p.Labels = map[string]string{"app": "changed", "extra": "x"}
			p.Annotations = map[string]string{"a": "b"}
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "X", Name: "x", UID: "u"}}
			p.Status.Reason = "Evicted"
		}},
	}
	for i, s := range steps {
		next := live.DeepCopy()
		s.change(next)
		want := fms.status.UpdateNoErrors(live, next.DeepCopy(), s.manager)
		got := fms.trackUpdate("status", live, next.DeepCopy(), s.manager)
		if w, g := managedFieldsOf(t, want), managedFieldsOf(t, got); !reflect.DeepEqual(w, g) {
			t.Fatalf("step %d (%s): managed fields\n got %v\nwant %v", i, s.manager, g, w)
		}
		if got.(*corev1.Pod).Spec.Containers[0].Image != next.Spec.Containers[0].Image {
			t.Fatalf("step %d: the spec of the returned object changed", i)
		}
		if gm := got.(*corev1.Pod).ObjectMeta; gm.Name != next.Name || !reflect.DeepEqual(gm.Labels, next.Labels) {
			t.Fatalf("step %d: the metadata of the returned object changed: %+v", i, gm)
		}
		live = want.(*corev1.Pod)
	}
	if n := len(live.ManagedFields); n != 3 {
		t.Errorf("%d managers at the end, want creator, kubelet and other: %v", n, managedFieldsOf(t, live))
	}
}

// managedFieldsOf returns obj's managed fields without their times (each call stamps now).
func managedFieldsOf(t *testing.T, obj runtime.Object) []metav1.ManagedFieldsEntry {
	t.Helper()
	m, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]metav1.ManagedFieldsEntry, 0, len(m.GetManagedFields()))
	for _, e := range m.GetManagedFields() {
		e.Time = nil
		out = append(out, e)
	}
	return out
}
