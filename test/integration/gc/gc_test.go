package gc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/berth/berth/test/integration/framework"
)

func TestPropagation(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})

	t.Run("background deletes dependents after the owner, through every level", func(t *testing.T) {
		ns := "gc-background"
		createNamespace(t, c.Client, ns)
		owner := createConfigMap(t, c.Client, ns, "owner", nil)
		child := createConfigMap(t, c.Client, ns, "child", nil, cmRef(owner, false))
		createConfigMap(t, c.Client, ns, "child-blocking", nil, cmRef(owner, true))
		createConfigMap(t, c.Client, ns, "grandchild", nil, cmRef(child, false))
		unrelated := createConfigMap(t, c.Client, ns, "unrelated", nil)

		c.MustKubectl(t, "delete", "configmap", "owner", "-n", ns)
		waitGone(t, c.Client, ns, "owner", "child", "child-blocking", "grandchild")
		if got := mustGetConfigMap(t, c.Client, ns, "unrelated"); got.UID != unrelated.UID {
			t.Fatalf("unrelated configmap replaced")
		}
	})

	t.Run("orphan removes the owner's references and keeps the dependents", func(t *testing.T) {
		ns := "gc-orphan"
		createNamespace(t, c.Client, ns)
		owner := createConfigMap(t, c.Client, ns, "owner", nil)
		other := createConfigMap(t, c.Client, ns, "other-owner", nil)
		createConfigMap(t, c.Client, ns, "only-child", nil, cmRef(owner, true))
		createConfigMap(t, c.Client, ns, "shared-child", nil, cmRef(owner, false), cmRef(other, false))

		// kubectl waits for the owner to be gone: the collector must release it.
		c.MustKubectl(t, "delete", "configmap", "owner", "-n", ns, "--cascade=orphan")
		waitGone(t, c.Client, ns, "owner")
		if refs := mustGetConfigMap(t, c.Client, ns, "only-child").OwnerReferences; len(refs) != 0 {
			t.Fatalf("only-child still has ownerReferences %v", refs)
		}
		if refs := refUIDs(mustGetConfigMap(t, c.Client, ns, "shared-child").OwnerReferences); !slices.Equal(refs, []types.UID{other.UID}) {
			t.Fatalf("shared-child owners = %v, want only %s", refs, other.UID)
		}
	})

	t.Run("foreground keeps the owner until its blocking dependents are gone", func(t *testing.T) {
		ns := "gc-foreground"
		createNamespace(t, c.Client, ns)
		owner := createConfigMap(t, c.Client, ns, "owner", nil)
		createConfigMap(t, c.Client, ns, "held", []string{holdFinalizer}, cmRef(owner, true))
		middle := createConfigMap(t, c.Client, ns, "middle", nil, cmRef(owner, true))
		createConfigMap(t, c.Client, ns, "held-grandchild", []string{holdFinalizer}, cmRef(middle, true))
		createConfigMap(t, c.Client, ns, "non-blocking", nil, cmRef(owner, false))

		deleteWith(t, c.Client, ns, "owner", metav1.DeletePropagationForeground)
		framework.Eventually(t, waitFor, "held dependents marked for deletion", func() bool {
			held := mustGetConfigMap(t, c.Client, ns, "held")
			grand := mustGetConfigMap(t, c.Client, ns, "held-grandchild")
			return held.DeletionTimestamp != nil && grand.DeletionTimestamp != nil
		})
		// The middle dependent waits for its own blocking dependent, in the foreground.
		if m := mustGetConfigMap(t, c.Client, ns, "middle"); m.DeletionTimestamp == nil || !slices.Contains(m.Finalizers, metav1.FinalizerDeleteDependents) {
			t.Fatalf("middle: deletionTimestamp %v finalizers %v, want foreground deletion", m.DeletionTimestamp, m.Finalizers)
		}
		o := mustGetConfigMap(t, c.Client, ns, "owner")
		if o.DeletionTimestamp == nil || !slices.Contains(o.Finalizers, metav1.FinalizerDeleteDependents) {
			t.Fatalf("owner: deletionTimestamp %v finalizers %v, want foreground deletion pending", o.DeletionTimestamp, o.Finalizers)
		}
		if nb := mustGetConfigMap(t, c.Client, ns, "non-blocking"); nb.DeletionTimestamp != nil {
			t.Fatalf("non-blocking dependent deleted before its owner")
		}

		release(t, c.Client, ns, "held")
		release(t, c.Client, ns, "held-grandchild")
		waitGone(t, c.Client, ns, "held", "held-grandchild", "middle", "owner", "non-blocking")
	})

	t.Run("kubectl delete --cascade=foreground returns after the dependents are gone", func(t *testing.T) {
		ns := "gc-foreground-kubectl"
		createNamespace(t, c.Client, ns)
		owner := createConfigMap(t, c.Client, ns, "owner", nil)
		for i := range 5 {
			createConfigMap(t, c.Client, ns, fmt.Sprintf("child-%d", i), nil, cmRef(owner, true))
		}
		c.MustKubectl(t, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground")
		for i := range 5 {
			if !configMapGone(t, c.Client, ns, fmt.Sprintf("child-%d", i))() {
				t.Fatalf("child-%d still exists after its owner was deleted in the foreground", i)
			}
		}
	})

	t.Run("dependents of an owner uid that is gone are deleted", func(t *testing.T) {
		ns := "gc-dangling"
		createNamespace(t, c.Client, ns)
		ghost := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "ghost", UID: uuid.NewUUID()}
		createConfigMap(t, c.Client, ns, "ghost-child", nil, ghost)
		namesake := createConfigMap(t, c.Client, ns, "namesake", nil)
		stale := cmRef(namesake, false)
		stale.UID = uuid.NewUUID() // the same name, another uid: a previous incarnation
		createConfigMap(t, c.Client, ns, "namesake-child", nil, stale)
		live := createConfigMap(t, c.Client, ns, "live", nil)
		createConfigMap(t, c.Client, ns, "mixed-child", nil, cmRef(live, false), ghost)

		waitGone(t, c.Client, ns, "ghost-child", "namesake-child")
		framework.Eventually(t, waitFor, "the dangling reference of mixed-child removed", func() bool {
			return slices.Equal(refUIDs(mustGetConfigMap(t, c.Client, ns, "mixed-child").OwnerReferences), []types.UID{live.UID})
		})
		if got := mustGetConfigMap(t, c.Client, ns, "namesake"); got.DeletionTimestamp != nil {
			t.Fatalf("namesake owner was deleted")
		}
	})

	t.Run("a cluster-scoped owner takes its namespaced dependents", func(t *testing.T) {
		node, err := c.Client.CoreV1().Nodes().Create(ctxFor(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gc-node"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		lease, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctxFor(t), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
			Name: "gc-node", OwnerReferences: []metav1.OwnerReference{ownedBy("v1", "Node", node, false)},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.MustKubectl(t, "delete", "node", "gc-node")
		framework.Eventually(t, waitFor, "node lease deleted", func() bool {
			_, err := c.Client.CoordinationV1().Leases(lease.Namespace).Get(context.Background(), lease.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})

	t.Run("kubectl delete deployment removes its replicasets and pods; --cascade=orphan keeps them", func(t *testing.T) {
		ns := "gc-deploy"
		createNamespace(t, c.Client, ns)
		cascade := newDeploymentTree(t, c.Client, ns, "cascade")
		c.MustKubectl(t, "delete", "deployment", "cascade", "-n", ns)
		framework.Eventually(t, waitFor, "replicaset and pods of deployment cascade deleted", func() bool {
			return cascade.gone(t, c.Client)
		})

		orphan := newDeploymentTree(t, c.Client, ns, "orphan")
		c.MustKubectl(t, "delete", "deployment", "orphan", "-n", ns, "--cascade=orphan")
		rs, err := c.Client.AppsV1().ReplicaSets(ns).Get(ctxFor(t), orphan.rs.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned replicaset: %v", err)
		}
		if len(rs.OwnerReferences) != 0 {
			t.Fatalf("orphaned replicaset still has ownerReferences %v", rs.OwnerReferences)
		}
		for _, name := range orphan.pods {
			pod, err := c.Client.CoreV1().Pods(ns).Get(ctxFor(t), name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("pod of the orphaned replicaset: %v", err)
			}
			if !slices.Equal(refUIDs(pod.OwnerReferences), []types.UID{rs.UID}) {
				t.Fatalf("pod %s owners %v, want the replicaset", name, pod.OwnerReferences)
			}
		}
	})
}

// deploymentTree is a Deployment owning a ReplicaSet owning pods, built by hand so the
// test does not depend on the workload controllers: zero replicas, and labels outside
// the selectors so no controller adopts or deletes what the test made.
type deploymentTree struct {
	ns   string
	rs   *appsv1.ReplicaSet
	pods []string
}

func newDeploymentTree(t *testing.T, c kubernetes.Interface, ns, name string) deploymentTree {
	t.Helper()
	ctx := ctxFor(t)
	zero := int32(0)
	template := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:0.3.2"}}},
		}
	}
	dep, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}, Template: template(name),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	rsApp := name + "-rs"
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-manual", OwnerReferences: []metav1.OwnerReference{ownedBy("apps/v1", "Deployment", dep, true)}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": rsApp}}, Template: template(rsApp),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create replicaset: %v", err)
	}
	tree := deploymentTree{ns: ns, rs: rs}
	for i := range 3 {
		pod := unboundPod(fmt.Sprintf("%s-pod-%d", name, i), map[string]string{"app": name + "-pod"}, ownedBy("apps/v1", "ReplicaSet", rs, true))
		if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod: %v", err)
		}
		tree.pods = append(tree.pods, pod.Name)
	}
	return tree
}

func (d deploymentTree) gone(t *testing.T, c kubernetes.Interface) bool {
	ctx := context.Background()
	if _, err := c.AppsV1().ReplicaSets(d.ns).Get(ctx, d.rs.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return false
	}
	for _, name := range d.pods {
		if _, err := c.CoreV1().Pods(d.ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false
		}
	}
	return true
}

// TestRestartFinishesHalfDeleted: deletions accepted while no collector ran (orphan and
// foreground finalizers set, dependents of a deleted owner left) are finished by the
// collector of the next server on the same data.
func TestRestartFinishesHalfDeleted(t *testing.T) {
	dir := t.TempDir()
	api := startAPIOnly(t, dir)
	ns := "gc-restart"
	createNamespace(t, api.client, ns)
	orphanOwner := createConfigMap(t, api.client, ns, "orphan-owner", nil)
	createConfigMap(t, api.client, ns, "orphan-child", nil, cmRef(orphanOwner, true))
	fgOwner := createConfigMap(t, api.client, ns, "fg-owner", nil)
	createConfigMap(t, api.client, ns, "fg-child", nil, cmRef(fgOwner, true))
	bgOwner := createConfigMap(t, api.client, ns, "bg-owner", nil)
	createConfigMap(t, api.client, ns, "bg-child", nil, cmRef(bgOwner, false))

	deleteWith(t, api.client, ns, "orphan-owner", metav1.DeletePropagationOrphan)
	deleteWith(t, api.client, ns, "fg-owner", metav1.DeletePropagationForeground)
	deleteWith(t, api.client, ns, "bg-owner", metav1.DeletePropagationBackground)
	for name, finalizer := range map[string]string{"orphan-owner": metav1.FinalizerOrphanDependents, "fg-owner": metav1.FinalizerDeleteDependents} {
		if cm := mustGetConfigMap(t, api.client, ns, name); cm.DeletionTimestamp == nil || !slices.Contains(cm.Finalizers, finalizer) {
			t.Fatalf("%s: deletionTimestamp %v finalizers %v, want %s pending", name, cm.DeletionTimestamp, cm.Finalizers, finalizer)
		}
	}
	if !configMapGone(t, api.client, ns, "bg-owner")() {
		t.Fatalf("bg-owner not deleted at once")
	}
	api.stop(t)

	c := framework.StartCluster(t, framework.Options{DataDir: dir})
	waitGone(t, c.Client, ns, "orphan-owner", "fg-owner", "fg-child", "bg-child")
	if refs := mustGetConfigMap(t, c.Client, ns, "orphan-child").OwnerReferences; len(refs) != 0 {
		t.Fatalf("orphan-child still has ownerReferences %v", refs)
	}
}

// TestManyDependents measures a background cascade over many dependents.
func TestManyDependents(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	c := framework.StartCluster(t, framework.Options{})
	ns := "gc-many"
	createNamespace(t, c.Client, ns)
	owner := createConfigMap(t, c.Client, ns, "owner", nil)
	const n, writers = 500, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("child-%d", i), OwnerReferences: []metav1.OwnerReference{cmRef(owner, false)}}}
				if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
					t.Errorf("create %s: %v", cm.Name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Count the deletions on a watch: polling lists of hundreds of objects would load
	// the server and slow down what is measured.
	list, err := c.Client.CoreV1().ConfigMaps(ns).List(ctxFor(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Client.CoreV1().ConfigMaps(ns).Watch(ctxFor(t), metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	deleteWith(t, c.Client, ns, "owner", metav1.DeletePropagationBackground)
	timeout := time.After(time.Minute)
	for deleted := 0; deleted < n; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended after %d deletions", deleted)
			}
			if cm, isCM := ev.Object.(*corev1.ConfigMap); isCM && ev.Type == watch.Deleted && strings.HasPrefix(cm.Name, "child-") {
				deleted++
			}
		case <-timeout:
			t.Fatalf("timed out with %d of %d dependents deleted", deleted, n)
		}
	}
	t.Logf("background cascade of %d dependents: %s", n, time.Since(start).Round(time.Millisecond))
}
