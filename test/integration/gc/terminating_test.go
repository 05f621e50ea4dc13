package gc

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// TestCreateInTerminatingNamespaceNamesTheObject: a create in a terminating namespace is
// 403 with kube-apiserver's wording, naming the object — by its generateName when the
// name is still to be generated, as a ReplicaSet's pods are.
func TestCreateInTerminatingNamespaceNamesTheObject(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := ctxFor(t)
	ns := "going"
	createNamespace(t, c.Client, ns)
	createConfigMap(t, c.Client, ns, "held", []string{holdFinalizer})
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, waitFor, "namespace terminating", func() bool {
		n, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err == nil && n.Status.Phase == corev1.NamespaceTerminating
	})
	t.Cleanup(func() { release(t, c.Client, ns, "held") })

	for _, tc := range []struct {
		name string
		meta metav1.ObjectMeta
		want string
	}{
		{"named", metav1.ObjectMeta{Name: "web"}, `configmaps "web" is forbidden: unable to create new content in namespace going because it is being terminated`},
		{"generated name", metav1.ObjectMeta{GenerateName: "web-"}, `configmaps "web-" is forbidden: unable to create new content in namespace going because it is being terminated`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: tc.meta}, metav1.CreateOptions{})
			if !apierrors.IsForbidden(err) || err.Error() != tc.want {
				t.Fatalf("create: got %v, want 403 %q", err, tc.want)
			}
		})
	}
}
