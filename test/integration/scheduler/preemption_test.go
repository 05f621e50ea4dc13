package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/test/integration/framework"
)

const preemptionManifests = `apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: batch}
value: 10
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: critical-app}
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: polite}
value: 1000
preemptionPolicy: Never
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: filler}
spec:
  replicas: 4
  selector: {matchLabels: {app: filler}}
  template:
    metadata: {labels: {app: filler}}
    spec:
      priorityClassName: batch
      terminationGracePeriodSeconds: 5
      containers:
      - name: c
        image: busybox
        resources: {requests: {cpu: "2"}}
`

// TestPreemption: two 4-cpu nodes full of low-priority pods; a pod of a higher
// PriorityClass preempts exactly one of them (the victims take a second to stop, and it
// waits for them on its nominated node instead of preempting more), then runs there. The
// victim carries Kubernetes' DisruptionTarget condition and Preempted event; its
// replacement and a high-priority pod that may not preempt stay Pending with Kubernetes'
// reasons.
func TestPreemption(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()
	c.StartSimulatedNodes(t, simulated.Config{Nodes: 2, CPU: resource.MustParse("4"), DeletionDelay: time.Second})
	pods := c.Client.CoreV1().Pods("default")
	mustApply(t, c, preemptionManifests)
	framework.Eventually(t, waitFor, "4 filler pods Running", func() bool {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=filler"})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 4
	})

	mustApply(t, c, twoCPUPod("vip", "critical-app"))
	var vip *corev1.Pod
	framework.Eventually(t, waitFor, "vip Running", func() bool {
		var err error
		vip, err = pods.Get(ctx, "vip", metav1.GetOptions{})
		return err == nil && vip.Status.Phase == corev1.PodRunning
	})

	if vip.Status.NominatedNodeName != "" {
		t.Errorf("bound vip still nominated to %q (the binding clears it)", vip.Status.NominatedNodeName)
	}
	for _, e := range podEvents(t, c.Client, "vip", "FailedScheduling") {
		t.Logf("vip: FailedScheduling ×%d: %s", max(e.Count, 1), e.Message)
	}
	// Exactly one victim, on vip's node, with the scheduler's event and condition.
	var preempted []corev1.Event
	framework.Eventually(t, waitFor, "Preempted event", func() bool {
		list, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Preempted"})
		if err != nil {
			t.Fatal(err)
		}
		preempted = list.Items
		return len(preempted) > 0
	})
	if len(preempted) != 1 {
		t.Fatalf("%d pods preempted for one 2-cpu pod: %+v", len(preempted), preempted)
	}
	ev := preempted[0]
	if want := "Preempted by pod " + string(vip.UID) + " on node " + vip.Spec.NodeName; ev.Message != want ||
		ev.Source.Component != "default-scheduler" || !strings.HasPrefix(ev.InvolvedObject.Name, "filler-") {
		t.Fatalf("event %q from %q about %s; want %q from default-scheduler about a filler pod", ev.Message, ev.Source.Component, ev.InvolvedObject.Name, want)
	}
	if victim, err := pods.Get(ctx, ev.InvolvedObject.Name, metav1.GetOptions{}); err == nil {
		cond := condition(victim, corev1.DisruptionTarget)
		if victim.DeletionTimestamp == nil || cond == nil || cond.Reason != corev1.PodReasonPreemptionByScheduler {
			t.Fatalf("victim still there without being deleted for preemption: %+v", victim.Status.Conditions)
		}
	}

	// The Deployment's replacement has nowhere to go and nothing it may preempt.
	const wantReplacement = "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
	framework.Eventually(t, waitFor, "the replacement Pending with Kubernetes' reason", func() bool {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=filler"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			if cond := condition(&p, corev1.PodScheduled); p.Spec.NodeName == "" && cond != nil && cond.Message == wantReplacement {
				return true
			}
		}
		return false
	})
	out := c.MustKubectl(t, "get", "pods", "-o", "wide")
	if strings.Count(out, "Running") != 4 || strings.Count(out, "Pending") != 1 {
		t.Fatalf("want vip and 3 filler pods Running, 1 Pending:\n%s", out)
	}

	// A pod whose class says Never waits instead.
	mustApply(t, c, twoCPUPod("polite", "polite"))
	const wantPolite = "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
	framework.Eventually(t, waitFor, "polite Pending, not preempting", func() bool {
		p, err := pods.Get(ctx, "polite", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cond := condition(p, corev1.PodScheduled)
		return cond != nil && cond.Message == wantPolite
	})
	list, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Preempted"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("preempted events after polite: %v %d", err, len(list.Items))
	}
}

func mustApply(t *testing.T, c *framework.Cluster, manifest string) {
	t.Helper()
	if r := c.KubectlStdin(t, manifest, "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("kubectl apply: %v\n%s", r.Err, r.Stderr)
	}
}

// twoCPUPod is a pod of class requesting 2 cpu.
func twoCPUPod(name, class string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  priorityClassName: " + class +
		"\n  containers:\n  - {name: c, image: busybox, resources: {requests: {cpu: \"2\"}}}\n"
}
