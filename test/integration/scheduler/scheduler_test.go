// Package scheduler_test checks the default scheduler against a real control plane: nodes
// are created directly (no agent), pods are placed by the scheduler running in the server.
package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	st "github.com/berth/berth/internal/scheduler/schedulertest"
	"github.com/berth/berth/test/integration/framework"
)

const waitFor = 30 * time.Second

// createNode creates a Ready node with allocatable resources, as an agent would register.
func createNode(t *testing.T, client kubernetes.Interface, node *corev1.Node) {
	t.Helper()
	ctx := context.Background()
	node = node.DeepCopy()
	node.UID = ""
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", node.Name, err)
	}
	// Controllers (node IPAM) may update the node meanwhile: retry on conflict.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := client.CoreV1().Nodes().Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		current.Status = node.Status
		current.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("mark node %s ready: %v", node.Name, err)
	}
}

func createPod(t *testing.T, client kubernetes.Interface, pod *corev1.Pod) {
	t.Helper()
	pod = pod.DeepCopy()
	pod.UID = ""
	if _, err := client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
}

func nodeOf(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	pod, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return pod.Spec.NodeName
}

func waitBound(t *testing.T, client kubernetes.Interface, names ...string) map[string]string {
	t.Helper()
	placed := map[string]string{}
	framework.Eventually(t, waitFor, fmt.Sprintf("%d pods bound", len(names)), func() bool {
		for _, n := range names {
			if placed[n] == "" {
				placed[n] = nodeOf(t, client, n)
			}
			if placed[n] == "" {
				return false
			}
		}
		return true
	})
	return placed
}

// podEvents lists the events about a pod with reason.
func podEvents(t *testing.T, client kubernetes.Interface, pod, reason string) []corev1.Event {
	t.Helper()
	sel := fields.Set{"involvedObject.name": pod, "reason": reason}.AsSelector().String()
	list, err := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return list.Items
}

func zoneNodes(t *testing.T, client kubernetes.Interface) {
	for i, z := range []string{"zone-a", "zone-b", "zone-c"} {
		createNode(t, client, st.Node(fmt.Sprintf("node-%d", i+1), "4", "8Gi", 110).Zone(z).Obj())
	}
}

func TestPlacesPodAndReportsIt(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	createNode(t, c.Client, st.Node("small", "1", "1Gi", 110).Obj())
	createNode(t, c.Client, st.Node("big", "8", "16Gi", 110).Obj())
	createPod(t, c.Client, st.Pod("default", "foo").Req("2", "1Gi").Obj())

	placed := waitBound(t, c.Client, "foo")
	if placed["foo"] != "big" {
		t.Fatalf("foo placed on %q, want big (the only node with 2 cpus)", placed["foo"])
	}
	framework.Eventually(t, waitFor, "Scheduled event", func() bool {
		for _, ev := range podEvents(t, c.Client, "foo", "Scheduled") {
			if ev.Message == "Successfully assigned default/foo to big" && ev.Source.Component == "default-scheduler" && ev.Type == corev1.EventTypeNormal {
				return true
			}
		}
		return false
	})
	pod, err := c.Client.CoreV1().Pods("default").Get(context.Background(), "foo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cond := condition(pod, corev1.PodScheduled); cond == nil || cond.Status != corev1.ConditionTrue {
		t.Fatalf("PodScheduled condition: %+v", cond)
	}
	// Pods for another scheduler are left alone.
	other := st.Pod("default", "other").Obj()
	other.Spec.SchedulerName = "my-scheduler"
	createPod(t, c.Client, other)
	createPod(t, c.Client, st.Pod("default", "marker").Obj())
	waitBound(t, c.Client, "marker")
	if n := nodeOf(t, c.Client, "other"); n != "" {
		t.Fatalf("pod for my-scheduler was bound to %s", n)
	}
}

func TestSpreadsOverZonesWithMaxSkew(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	zoneNodes(t, c.Client)
	var names []string
	for i := range 10 {
		name := fmt.Sprintf("web-%d", i)
		names = append(names, name)
		createPod(t, c.Client, st.Pod("default", name).Label("app", "web").Req("100m", "64Mi").
			Spread(1, corev1.LabelTopologyZone, corev1.DoNotSchedule, "app", "web").Obj())
	}
	placed := waitBound(t, c.Client, names...)
	counts := map[string]int{}
	for _, n := range placed {
		counts[n]++
	}
	lo, hi := 10, 0
	for _, n := range []string{"node-1", "node-2", "node-3"} {
		lo, hi = min(lo, counts[n]), max(hi, counts[n])
	}
	if hi-lo > 1 {
		t.Fatalf("skew %d > 1: %v", hi-lo, counts)
	}
	out := c.MustKubectl(t, "get", "pods", "-l", "app=web", "-o", "wide")
	if strings.Count(out, "node-") != 10 {
		t.Fatalf("kubectl get -o wide does not show 10 placed pods:\n%s", out)
	}
}

func TestUnschedulableThenRetriedWhenNodeAdded(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	zoneNodes(t, c.Client)
	createPod(t, c.Client, st.Pod("default", "huge").Req("6", "1Gi").Obj())

	const want = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	framework.Eventually(t, waitFor, "PodScheduled=False with the reason", func() bool {
		pod, err := c.Client.CoreV1().Pods("default").Get(context.Background(), "huge", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cond := condition(pod, corev1.PodScheduled)
		return cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable && cond.Message == want
	})
	framework.Eventually(t, waitFor, "FailedScheduling event", func() bool {
		for _, ev := range podEvents(t, c.Client, "huge", "FailedScheduling") {
			if ev.Message == want && ev.Type == corev1.EventTypeWarning && ev.Source.Component == "default-scheduler" {
				return true
			}
		}
		return false
	})
	if out := c.MustKubectl(t, "describe", "pod", "huge"); !strings.Contains(out, want) {
		t.Fatalf("kubectl describe does not show the reason:\n%s", out)
	}

	// A node that fits arrives: the pod is retried because of it, not by polling.
	createNode(t, c.Client, st.Node("node-big", "8", "16Gi", 110).Obj())
	if n := waitBound(t, c.Client, "huge")["huge"]; n != "node-big" {
		t.Fatalf("huge placed on %s", n)
	}
	attempts := int32(0)
	for _, ev := range podEvents(t, c.Client, "huge", "FailedScheduling") {
		attempts += max(ev.Count, 1)
	}
	if attempts > 2 {
		t.Fatalf("%d failed attempts before the node came: the queue retried without a reason", attempts)
	}
}

func TestCordonIsRespected(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	zoneNodes(t, c.Client)
	c.MustKubectl(t, "cordon", "node-1")
	c.MustKubectl(t, "cordon", "node-2")
	var names []string
	for i := range 5 {
		names = append(names, fmt.Sprintf("p-%d", i))
		createPod(t, c.Client, st.Pod("default", names[i]).Req("100m", "").Obj())
	}
	for name, n := range waitBound(t, c.Client, names...) {
		if n != "node-3" {
			t.Fatalf("%s placed on cordoned %s", name, n)
		}
	}
	c.MustKubectl(t, "cordon", "node-3")
	createPod(t, c.Client, st.Pod("default", "late").Obj())
	const want = "0/3 nodes are available: 3 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	framework.Eventually(t, waitFor, "unschedulable reason", func() bool {
		pod, err := c.Client.CoreV1().Pods("default").Get(context.Background(), "late", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cond := condition(pod, corev1.PodScheduled)
		return cond != nil && cond.Message == want
	})
	c.MustKubectl(t, "uncordon", "node-2")
	if n := waitBound(t, c.Client, "late")["late"]; n != "node-2" {
		t.Fatalf("late placed on %s, want the uncordoned node-2", n)
	}
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// TestPriorityOrdersTheQueue: two pending pods want the one place a node has. They are
// written while no scheduler runs, so the scheduler that starts finds both in its queue at
// once: the pod of the higher PriorityClass gets the place although it is older by name
// and creation, and the other reports why it does not fit.
func TestPriorityOrdersTheQueue(t *testing.T) {
	dir := t.TempDir()
	api := framework.StartCluster(t, framework.Options{DataDir: dir, APIOnly: true})
	createNode(t, api.Client, st.Node("only", "1", "4Gi", 110).Obj())
	createPod(t, api.Client, st.Pod("default", "a-low").Req("600m", "").Obj())
	high := st.Pod("default", "z-high").Req("600m", "").Obj()
	high.Spec.PriorityClassName = "system-cluster-critical"
	createPod(t, api.Client, high)
	api.Stop(t)

	c := framework.StartCluster(t, framework.Options{DataDir: dir})
	if n := waitBound(t, c.Client, "z-high")["z-high"]; n != "only" {
		t.Fatalf("z-high placed on %q", n)
	}
	const want = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
	framework.Eventually(t, waitFor, "a-low reports the cpu it lacks", func() bool {
		pod, err := c.Client.CoreV1().Pods("default").Get(context.Background(), "a-low", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cond := condition(pod, corev1.PodScheduled)
		return pod.Spec.NodeName == "" && cond != nil && cond.Message == want
	})
}
