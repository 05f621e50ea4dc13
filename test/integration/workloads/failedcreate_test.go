package workloads

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// TestFailedCreateNamesThePodPrefix: a ReplicaSet whose pods the API refuses records
// FailedCreate with kube-apiserver's wording, which names the refused pod by its
// generateName ('pods "<replicaset>-" is forbidden: ...'), and the Deployment carries the
// ReplicaFailure condition with it.
func TestFailedCreateNamesThePodPrefix(t *testing.T) {
	c := startCluster(t, 0)
	applyStdin(t, c, `apiVersion: apps/v1
kind: Deployment
metadata: {name: nopc}
spec:
  replicas: 1
  selector: {matchLabels: {app: nopc}}
  template:
    metadata: {labels: {app: nopc}}
    spec:
      priorityClassName: nope
      containers: [{name: c, image: app:1}]
`)
	ctx := context.Background()
	var want string
	framework.Eventually(t, waitTimeout, "the new replica set", func() bool {
		rss, err := c.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=nopc"})
		if err != nil || len(rss.Items) != 1 {
			return false
		}
		want = `Error creating: pods "` + rss.Items[0].Name + `-" is forbidden: no PriorityClass with name nope was found`
		return true
	})
	framework.Eventually(t, waitTimeout, "FailedCreate event "+want, func() bool {
		events, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
		if err != nil {
			return false
		}
		for _, e := range events.Items {
			if e.Message == want {
				return true
			}
		}
		return false
	})
	framework.Eventually(t, waitTimeout, "ReplicaFailure on the deployment", func() bool {
		d := getDeployment(t, c.Client, "default", "nopc")
		for _, cond := range d.Status.Conditions {
			if cond.Type == "ReplicaFailure" && cond.Message == want[len("Error creating: "):] {
				return true
			}
		}
		return false
	})
}
