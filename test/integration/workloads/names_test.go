package workloads

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// TestLongDeploymentNameGivesShortPodNames: the pods of a Deployment whose ReplicaSet name
// is long are named as kube-apiserver names generateName objects — the prefix cut to 58
// characters and 5 random ones added, 63 at most — so a pod name stays a valid hostname.
// Before, the whole "<replicaset>-" prefix was kept (a 55-character Deployment made
// 72-character pod names).
func TestLongDeploymentNameGivesShortPodNames(t *testing.T) {
	c := startCluster(t, 0)
	name := "a-deployment-with-a-rather-long-name-for-its-pods-x1234" // 55 characters
	c.MustKubectl(t, "create", "deployment", name, "--image=app:1", "--replicas=2")
	c.MustKubectl(t, "rollout", "status", "deployment/"+name, "--timeout=60s")

	ctx := context.Background()
	rss, err := c.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil || len(rss.Items) != 1 {
		t.Fatalf("replica sets: %v %v", rss, err)
	}
	prefix := (rss.Items[0].Name + "-")[:58]
	var pods []string
	framework.Eventually(t, waitTimeout, "2 pods", func() bool {
		list, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false
		}
		pods = pods[:0]
		for _, p := range list.Items {
			pods = append(pods, p.Name)
		}
		return len(pods) == 2
	})
	for _, p := range pods {
		if len(p) != 63 || !strings.HasPrefix(p, prefix) {
			t.Errorf("pod name %q (%d characters), want %q and 5 random characters", p, len(p), prefix)
		}
	}
}
