package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSlimForNetwork(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "7", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24"}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.2"}},
			Images:    []corev1.ContainerImage{{Names: []string{"big"}, SizeBytes: 1 << 30}},
		},
	}
	got, err := slimForNetwork(node)
	if err != nil {
		t.Fatal(err)
	}
	n := got.(*corev1.Node)
	if n.Name != "n1" || n.ResourceVersion != "7" || n.Spec.PodCIDR != "10.42.1.0/24" || len(n.Status.Addresses) != 1 ||
		len(n.Status.Images) != 0 || n.ManagedFields != nil {
		t.Errorf("slim node %+v", n)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Annotations: map[string]string{
		corev1.LastAppliedConfigAnnotation: "{...}", "keep": "me",
	}}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.5"}}
	original := svc.Annotations
	got, _ = slimForNetwork(svc)
	s := got.(*corev1.Service)
	if _, ok := s.Annotations[corev1.LastAppliedConfigAnnotation]; ok || s.Annotations["keep"] != "me" || s.Spec.ClusterIP != "10.43.0.5" {
		t.Errorf("slim service %+v", s)
	}
	if _, ok := original[corev1.LastAppliedConfigAnnotation]; !ok {
		t.Error("the caller's annotation map was changed")
	}
}
