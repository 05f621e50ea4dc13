package workloads

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/test/integration/framework"
)

// TestNodeFailureKeepsReplicas: the node failure — a node running part of a
// 10-replica Deployment stops heartbeating, turns NotReady (Unknown) after the grace
// period, its pods are evicted once their unreachable toleration (2 s here) runs out, and
// the ReplicaSet replaces them on the two healthy nodes. A watch over the whole failure
// checks that the Deployment never has more than 10 pods counting as replicas.
func TestNodeFailureKeepsReplicas(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{Controllers: controller.Options{NodeMonitorGracePeriod: 2 * time.Second}})
	agent := c.StartSimulatedNodes(t, simulated.Config{Nodes: 3, Zones: 3, HeartbeatInterval: 300 * time.Millisecond})
	t.Cleanup(func() {
		if t.Failed() {
			dumpState(t, c.Client)
		}
	})
	tolerations := `      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
`
	applyStdin(t, c, deploymentYAML("web", 10, "app:0.3.2", "")+tolerations)
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	waitRolledOut(t, c.Client, "default", "web")
	const dead = "sim-0"
	onDead := 0
	for _, p := range activePods(t, c.Client, "default", "app=web") {
		if p.Spec.NodeName == dead {
			onDead++
		}
	}
	if onDead == 0 {
		t.Fatalf("no pod of web on %s to lose", dead)
	}

	pw := watchPods(t, c.Client, "default", "app")
	agent.StopNode(dead)
	framework.Eventually(t, waitTimeout, dead+" NotReady", func() bool {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), dead, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get node %s: %v", dead, err)
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status != corev1.ConditionTrue
			}
		}
		return false
	})
	var where map[string]int
	framework.Eventually(t, waitTimeout, fmt.Sprintf("the %d pods of %s replaced on the healthy nodes", onDead, dead), func() bool {
		where = map[string]int{}
		readyN := 0
		for _, p := range activePods(t, c.Client, "default", "app=web") {
			where[p.Spec.NodeName]++
			if ready(&p) && p.Spec.NodeName != dead {
				readyN++
			}
		}
		return readyN == 10 && where[dead] == 0
	})
	maxActive, _, _, events := pw.finish()
	t.Logf("%d pods lost with %s, replaced: %v; %d pod events, at most %d replicas at once", onDead, dead, where, events, maxActive)
	if maxActive > 10 {
		t.Errorf("saw %d pods counting as replicas at once, want at most 10", maxActive)
	}
	d := waitRolledOut(t, c.Client, "default", "web")
	if d.Status.AvailableReplicas != 10 || d.Status.Replicas != 10 {
		t.Errorf("deployment status %+v, want 10 replicas, 10 available", d.Status)
	}
}
