package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// The pod loop caches pods without their managed fields and writes status from those
// copies (pods.dropManagedFields), in a body without the spec (pods.statusUpdate). That
// is only correct because a status update keeps the stored managed fields and spec: the
// server takes a subresource's from the live pod. Checked against the real API server:
// the spec and the creator's entry survive and the status writer gets its own.
func TestStatusUpdateWithoutManagedFieldsKeepsThem(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods := c.Client.CoreV1().Pods("default")
	created, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}, metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.ManagedFields) == 0 {
		t.Fatal("the created pod has no managed fields")
	}
	next := &corev1.Pod{ObjectMeta: *created.ObjectMeta.DeepCopy(), Status: *created.Status.DeepCopy()}
	next.ManagedFields = nil
	next.Status.Phase = corev1.PodRunning
	next.Status.PodIP = "10.42.0.9"
	updated, err := pods.UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	managers := map[string]metav1.ManagedFieldsEntry{}
	for _, e := range updated.ManagedFields {
		managers[e.Manager+"/"+e.Subresource] = e
	}
	if _, ok := managers["creator/"]; !ok {
		t.Errorf("creator's entry lost: %+v", updated.ManagedFields)
	}
	if e, ok := managers["agent/status"]; !ok || e.FieldsV1 == nil {
		t.Errorf("no status entry of the agent: %+v", updated.ManagedFields)
	}
	if updated.Labels["app"] != "a" || updated.Status.PodIP != "10.42.0.9" {
		t.Errorf("updated pod %+v", updated)
	}
	if updated.Spec.NodeName != "n1" || len(updated.Spec.Containers) != 1 || updated.Spec.Containers[0].Image != "i" {
		t.Errorf("a status update without the spec changed it: %+v", updated.Spec)
	}
	if e := managers["creator/"]; e.FieldsV1 == nil || !strings.Contains(string(e.FieldsV1.Raw), `"f:containers"`) {
		t.Errorf("the creator no longer owns the spec: %+v", e)
	}
}
