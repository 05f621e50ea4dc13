package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDropManagedFields: the controllers' informers keep objects without managedFields
// and with everything else (annotations such as kubectl's last-applied stay: loops write
// cached objects back).
func TestDropManagedFields(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "x"},
		Annotations:   map[string]string{corev1.LastAppliedConfigAnnotation: "{}"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}}}}
	want := pod.DeepCopy()
	want.ManagedFields = nil
	got, err := dropManagedFields(pod)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(*corev1.Pod); p.ManagedFields != nil || p.Labels["app"] != "x" || p.Annotations[corev1.LastAppliedConfigAnnotation] != "{}" {
		t.Fatalf("transformed %+v, want %+v", p.ObjectMeta, want.ObjectMeta)
	}
	// Not an object (a tombstone, say): passed through.
	if got, err := dropManagedFields("x"); err != nil || got != "x" {
		t.Fatalf("non-object: %v %v", got, err)
	}
}
