package pods

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TestDropManagedFields: the pod cache's transform drops managed fields and nothing
// else; tombstones pass through. (The agent e2e tests run it against a real API server,
// whose status updates keep the stored managed fields.)
func TestDropManagedFields(t *testing.T) {
	entries := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	for _, tc := range []struct {
		name string
		obj  any
	}{
		{"pod", &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", ManagedFields: entries,
				Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: "{}"}},
			Spec: corev1.PodSpec{NodeName: "n1"},
		}},
		{"pod without", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}},
		{"tombstone", cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: &corev1.Pod{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dropManagedFields(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.obj {
				t.Errorf("got %#v, want the same object", got)
			}
			pod, ok := got.(*corev1.Pod)
			if !ok {
				return
			}
			if pod.ManagedFields != nil || pod.Name != "p" {
				t.Errorf("got %+v, want pod p without managed fields", pod.ObjectMeta)
			}
			if tc.name == "pod" && (pod.Annotations[corev1.LastAppliedConfigAnnotation] != "{}" || pod.Spec.NodeName != "n1") {
				t.Errorf("got %+v, want annotations and spec kept", pod)
			}
		})
	}
}
