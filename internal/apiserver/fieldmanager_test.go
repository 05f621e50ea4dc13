package apiserver

import (
	"fmt"
	"reflect"
	"testing"
	"time"

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

// TestStatusTrackingKeepsOtherEntries: a status write that passes only the status
// subresource's entries through the field manager (splitForStatus) gives exactly what
// the whole does — entries of other times in their order, a manager taking another's
// field — and falls back to the whole where the split could differ: an old entry of the
// main resource that claims a status field, and enough update managers to be capped.
func TestStatusTrackingKeepsOtherEntries(t *testing.T) {
	fms, _ := fieldManagersOf(t, "", "pods")
	hourAgo := metav1.NewTime(time.Now().Add(-time.Hour))
	twoHoursAgo := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	base := func() *corev1.Pod {
		p := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
		p = fms.main.UpdateNoErrors(&corev1.Pod{TypeMeta: p.TypeMeta}, p, "creator").(*corev1.Pod)
		p.ManagedFields[0].Time = &hourAgo
		return p
	}
	withStatusManagers := func(p *corev1.Pod, n int) *corev1.Pod {
		for i := range n {
			next := p.DeepCopy()
			next.Status.Conditions = append(next.Status.Conditions, corev1.PodCondition{Type: corev1.PodConditionType(fmt.Sprintf("C%d", i)), Status: corev1.ConditionTrue})
			p = fms.status.UpdateNoErrors(p, next, fmt.Sprintf("m%d", i)).(*corev1.Pod)
		}
		for i := range p.ManagedFields {
			if p.ManagedFields[i].Subresource == "status" { // older than the creator's entry
				p.ManagedFields[i].Time = &twoHoursAgo
			}
		}
		return p
	}
	legacy := base()
	legacy.ManagedFields = append(legacy.ManagedFields, metav1.ManagedFieldsEntry{
		Manager: "old-writer", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &hourAgo,
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:message":{}}}`)},
	})
	legacy.Status.Message = "old"

	for _, tc := range []struct {
		name  string
		live  *corev1.Pod
		split bool
	}{
		{"creator an hour ago, two status managers", withStatusManagers(base(), 2), true},
		{"a main entry owning a status field", legacy, false},
		{"eight status managers", withStatusManagers(base(), 8), true},
		{"nine status managers: the next could be capped", withStatusManagers(base(), 9), false},
		{"ten status managers", withStatusManagers(base(), 10), false},
	} {
		_, _, split := splitForStatus(tc.live.ManagedFields)
		if split != tc.split {
			t.Errorf("%s: split %v, want %v", tc.name, split, tc.split)
		}
		for _, manager := range []string{"m0", "kubelet"} {
			next := tc.live.DeepCopy()
			next.Status.Phase = corev1.PodRunning
			next.Status.Message = "new"
			if len(next.Status.Conditions) > 0 {
				next.Status.Conditions[0].Status = corev1.ConditionFalse // m0's, taken by kubelet
			}
			want := fms.status.UpdateNoErrors(tc.live.DeepCopy(), next.DeepCopy(), manager)
			got := fms.trackUpdate("status", tc.live.DeepCopy(), next.DeepCopy(), manager)
			if w, g := managedFieldsOf(t, want), managedFieldsOf(t, got); !reflect.DeepEqual(w, g) {
				t.Errorf("%s, %s: managed fields\n got %v\nwant %v", tc.name, manager, fieldsText(g), fieldsText(w))
			}
		}
	}
}
