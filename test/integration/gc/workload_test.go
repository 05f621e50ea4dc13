package gc

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/test/integration/framework"
)

// TestWorkloadCascade deletes real Deployments (made by the deployment and replicaset
// controllers, pods Running on simulated nodes that take time to stop them) with each
// kubectl cascade mode, and a namespace with running pods.
func TestWorkloadCascade(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	c.StartSimulatedNodes(t, simulated.Config{Nodes: 2, DeletionDelay: 200 * time.Millisecond})

	t.Run("background removes the replicaset and its pods", func(t *testing.T) {
		ns := "wl-background"
		createNamespace(t, c.Client, ns)
		runDeployment(t, c, ns, "web", 3)
		c.MustKubectl(t, "delete", "deployment", "web", "-n", ns)
		framework.Eventually(t, waitFor, "replicasets and pods of web deleted", func() bool {
			rs, pods := workloadObjects(t, c, ns, "web")
			return rs == 0 && pods == 0
		})
	})

	t.Run("orphan keeps the replicaset and its pods", func(t *testing.T) {
		ns := "wl-orphan"
		createNamespace(t, c.Client, ns)
		runDeployment(t, c, ns, "web", 3)
		c.MustKubectl(t, "delete", "deployment", "web", "-n", ns, "--cascade=orphan")
		list, err := c.Client.AppsV1().ReplicaSets(ns).List(ctxFor(t), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("replicasets after orphaning: %v (%v)", list, err)
		}
		if refs := list.Items[0].OwnerReferences; len(refs) != 0 {
			t.Fatalf("orphaned replicaset still has ownerReferences %v", refs)
		}
		if _, pods := workloadObjects(t, c, ns, "web"); pods != 3 {
			t.Fatalf("%d pods after orphaning, want 3", pods)
		}
	})

	t.Run("foreground returns once the pods and replicaset are gone", func(t *testing.T) {
		ns := "wl-foreground"
		createNamespace(t, c.Client, ns)
		runDeployment(t, c, ns, "web", 3)
		c.MustKubectl(t, "delete", "deployment", "web", "-n", ns, "--cascade=foreground")
		if rs, pods := workloadObjects(t, c, ns, "web"); rs != 0 || pods != 0 {
			t.Fatalf("after a foreground delete returned: %d replicasets, %d pods", rs, pods)
		}
	})

	t.Run("kubectl delete namespace with running pods", func(t *testing.T) {
		ns := "wl-namespace"
		createNamespace(t, c.Client, ns)
		runDeployment(t, c, ns, "web", 4)
		start := time.Now()
		c.MustKubectl(t, "delete", "namespace", ns)
		t.Logf("namespace with 4 running pods (200 ms to stop each) deleted in %s", time.Since(start).Round(time.Millisecond))
		if rs, pods := workloadObjects(t, c, ns, "web"); rs != 0 || pods != 0 {
			t.Fatalf("left: %d replicasets, %d pods", rs, pods)
		}
	})
}

// runDeployment creates a Deployment with kubectl and waits for its pods to run.
func runDeployment(t *testing.T, c *framework.Cluster, ns, name string, replicas int) {
	t.Helper()
	c.MustKubectl(t, "create", "deployment", name, "-n", ns, "--image=app:0.3.2", fmt.Sprintf("--replicas=%d", replicas))
	framework.Eventually(t, waitFor, fmt.Sprintf("%d pods of %s running", replicas, name), func() bool {
		pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running++
			}
		}
		return running == replicas
	})
}

// workloadObjects counts the ReplicaSets and pods labelled app=name in ns.
func workloadObjects(t *testing.T, c *framework.Cluster, ns, name string) (replicaSets, pods int) {
	t.Helper()
	opts := metav1.ListOptions{LabelSelector: "app=" + name}
	rsList, err := c.Client.AppsV1().ReplicaSets(ns).List(context.Background(), opts)
	if err != nil {
		t.Fatalf("list replicasets: %v", err)
	}
	podList, err := c.Client.CoreV1().Pods(ns).List(context.Background(), opts)
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return len(rsList.Items), len(podList.Items)
}
