package scheduler_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// TestBindingValidation: pods/binding, the scheduler's write, refuses what kube-apiserver's
// ValidatePodBinding refuses, with its wording (422 Invalid), and leaves the pod unbound;
// a good binding then succeeds.
func TestBindingValidation(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	pods := c.Client.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		target corev1.ObjectReference
		want   string
	}{
		{"target not a node", corev1.ObjectReference{Kind: "Pod", Name: "n1"},
			`Binding "p" is invalid: target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"`},
		{"no target name", corev1.ObjectReference{Kind: "Node"},
			`Binding "p" is invalid: target.name: Required value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: tc.target}, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) || err.Error() != tc.want {
				t.Fatalf("bind: got %v, want 422 %q", err, tc.want)
			}
			got, err := pods.Get(ctx, "p", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.NodeName != "" {
				t.Fatalf("refused binding assigned the pod to %q", got.Spec.NodeName)
			}
		})
	}

	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("binding with an empty kind (a node): %v", err)
	}
	if got, err := pods.Get(ctx, "p", metav1.GetOptions{}); err != nil || got.Spec.NodeName != "n1" {
		t.Fatalf("after binding: node %q, %v", got.Spec.NodeName, err)
	}
}
