package gc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"

	"github.com/berth/berth/test/integration/framework"
)

func TestNamespaceDeletion(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	md := metadata.NewForConfigOrDie(c.Config)

	t.Run("kubectl delete namespace removes everything in it, then the namespace", func(t *testing.T) {
		ns := "team-a"
		createNamespace(t, c.Client, ns)
		fillNamespace(t, c, ns)
		other := "team-a-neighbour"
		createNamespace(t, c.Client, other)
		createConfigMap(t, c.Client, other, "stays", nil)

		start := time.Now()
		out := c.MustKubectl(t, "delete", "namespace", ns)
		took := time.Since(start)
		if !strings.Contains(out, `namespace "team-a" deleted`) {
			t.Errorf("kubectl printed %q", out)
		}
		t.Logf("kubectl delete namespace with every kind of content returned after %s", took.Round(time.Millisecond))
		if _, err := c.Client.CoreV1().Namespaces().Get(ctxFor(t), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("namespace still there after kubectl returned: %v", err)
		}
		if left := namespacedObjects(t, md, c, ns); len(left) > 0 {
			t.Fatalf("left in the deleted namespace: %v", left)
		}
		mustGetConfigMap(t, c.Client, other, "stays")
	})

	t.Run("a terminating namespace waits for finalizers and says why", func(t *testing.T) {
		ns := "team-b"
		createNamespace(t, c.Client, ns)
		createConfigMap(t, c.Client, ns, "held", []string{holdFinalizer})
		createConfigMap(t, c.Client, ns, "free", nil)
		if err := c.Client.CoreV1().Namespaces().Delete(ctxFor(t), ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, waitFor, "conditions naming the remaining content", func() bool {
			n, err := c.Client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace gone while content is held: %v", err)
			}
			remaining := condition(n, corev1.NamespaceContentRemaining)
			finalizers := condition(n, corev1.NamespaceFinalizersRemaining)
			return n.Status.Phase == corev1.NamespaceTerminating &&
				remaining.Status == corev1.ConditionTrue && remaining.Message == "Some resources are remaining: configmaps. has 1 resource instances" &&
				finalizers.Status == corev1.ConditionTrue && finalizers.Message == "Some finalizers are remaining: "+holdFinalizer+" in 1 resource instances"
		})
		waitGone(t, c.Client, ns, "free")
		_, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctxFor(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("create in a terminating namespace: %v, want Forbidden", err)
		}

		release(t, c.Client, ns, "held")
		framework.Eventually(t, waitFor, "namespace deleted", func() bool {
			_, err := c.Client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})

	t.Run("owners deleted with orphan and foreground propagation inside a deleted namespace", func(t *testing.T) {
		ns := "team-c"
		createNamespace(t, c.Client, ns)
		owner := createConfigMap(t, c.Client, ns, "owner", nil)
		createConfigMap(t, c.Client, ns, "child", nil, cmRef(owner, true))
		deleteWith(t, c.Client, ns, "owner", metav1.DeletePropagationOrphan)
		fg := createConfigMap(t, c.Client, ns, "fg", nil)
		createConfigMap(t, c.Client, ns, "fg-child", []string{holdFinalizer}, cmRef(fg, true))
		deleteWith(t, c.Client, ns, "fg", metav1.DeletePropagationForeground)
		framework.Eventually(t, waitFor, "fg-child marked for deletion", func() bool {
			return mustGetConfigMap(t, c.Client, ns, "fg-child").DeletionTimestamp != nil
		})
		release(t, c.Client, ns, "fg-child")
		c.MustKubectl(t, "delete", "namespace", ns)
	})
}

func condition(ns *corev1.Namespace, t corev1.NamespaceConditionType) corev1.NamespaceCondition {
	for _, c := range ns.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.NamespaceCondition{}
}

// fillNamespace creates one object of many kinds in ns, owned and unowned.
func fillNamespace(t *testing.T, c *framework.Cluster, ns string) {
	t.Helper()
	ctx := ctxFor(t)
	owner := createConfigMap(t, c.Client, ns, "owner", nil)
	createConfigMap(t, c.Client, ns, "child", nil, cmRef(owner, true))
	for i := range 3 {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, unboundPod(fmt.Sprintf("pod-%d", i), map[string]string{"app": "loose"}), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod: %v", err)
		}
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secret"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create serviceaccount: %v", err)
	}
	if _, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "svc"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "loose"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	if _, err := c.Client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "lease"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create lease: %v", err)
	}
	newDeploymentTree(t, c.Client, ns, "web")
}

// namespacedObjects lists what is left in ns over every namespaced resource served.
func namespacedObjects(t *testing.T, md metadata.Interface, c *framework.Cluster, ns string) []string {
	t.Helper()
	lists, err := c.Client.Discovery().ServerPreferredNamespacedResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var left []string
	for _, list := range lists {
		gv, _ := schema.ParseGroupVersion(list.GroupVersion)
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			items, err := md.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctxFor(t), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list %s: %v", r.Name, err)
			}
			for _, item := range items.Items {
				left = append(left, r.Name+"/"+item.Name)
			}
		}
	}
	return left
}
