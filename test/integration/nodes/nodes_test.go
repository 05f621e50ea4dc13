package nodes

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/test/integration/framework"
)

// TestSimulatedNodesRegister: nodes register Ready with kubelet-like labels and status,
// get distinct pod CIDRs and Leases; a bound pod goes Running/Ready with an IP from its
// node's CIDR; a deleted pod is gone once the node finishes it.
func TestSimulatedNodesRegister(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()
	c.StartSimulatedNodes(t, simulated.Config{Nodes: 4, Zones: 3, Labels: map[string]string{"pool": "sim"}})

	var nodes *corev1.NodeList
	framework.Eventually(t, timeout, "4 Ready nodes with pod CIDRs", func() bool {
		var err error
		nodes, err = c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 4 {
			return false
		}
		for _, n := range nodes.Items {
			if nodeReady(&n) != corev1.ConditionTrue || n.Spec.PodCIDR == "" {
				return false
			}
		}
		return true
	})
	cidrs := map[string]string{}
	zones := map[string]int{}
	for _, n := range nodes.Items {
		if other, dup := cidrs[n.Spec.PodCIDR]; dup {
			t.Fatalf("nodes %s and %s share pod CIDR %s", other, n.Name, n.Spec.PodCIDR)
		}
		cidrs[n.Spec.PodCIDR] = n.Name
		if p := netip.MustParsePrefix(n.Spec.PodCIDR); p.Bits() != 24 || !netip.MustParsePrefix("10.42.0.0/16").Contains(p.Addr()) {
			t.Fatalf("node %s pod CIDR %s is not a /24 of 10.42.0.0/16", n.Name, p)
		}
		if n.Labels[corev1.LabelHostname] != n.Name || n.Labels["pool"] != "sim" || n.Labels[corev1.LabelOSStable] != "linux" {
			t.Fatalf("node %s labels = %v", n.Name, n.Labels)
		}
		zones[n.Labels[corev1.LabelTopologyZone]]++
		if n.Status.Allocatable.Cpu().String() != "4" || n.Status.Allocatable.Pods().Value() != 110 || n.Status.NodeInfo.KubeletVersion == "" {
			t.Fatalf("node %s status = %+v", n.Name, n.Status)
		}
		// The lease is renewed by its own loop, which may start after the first status post
		// that made the node Ready (as with a kubelet): wait for it.
		framework.Eventually(t, 30*time.Second, "lease of "+n.Name, func() bool {
			_, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n.Name, metav1.GetOptions{})
			return err == nil
		})
	}
	if len(zones) != 3 {
		t.Fatalf("zones = %v, want nodes spread over 3", zones)
	}
	out := c.MustKubectl(t, "get", "nodes")
	if strings.Count(out, " Ready ") != 4 {
		t.Fatalf("kubectl get nodes:\n%s", out)
	}

	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, podOn("web", "sim-1", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	framework.Eventually(t, timeout, "pod Running and Ready", func() bool {
		pod, _ = c.Client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return pod != nil && pod.Status.Phase == corev1.PodRunning && podReady(pod) == corev1.ConditionTrue
	})
	node := getNode(t, c, "sim-1")
	if !netip.MustParsePrefix(node.Spec.PodCIDR).Contains(netip.MustParseAddr(pod.Status.PodIP)) {
		t.Fatalf("pod IP %s outside node CIDR %s", pod.Status.PodIP, node.Spec.PodCIDR)
	}
	if pod.Status.HostIP != node.Status.Addresses[0].Address || len(pod.Status.ContainerStatuses) != 2 || !pod.Status.ContainerStatuses[0].Ready {
		t.Fatalf("pod status = %+v", pod.Status)
	}
	c.MustKubectl(t, "delete", "pod", "web", "--timeout=20s")
}

// TestNodeFailure: a node that stops heartbeating turns Unknown with the unreachable
// taints, its pods are marked not ready and evicted when their 2 s tolerations run out,
// and a node that comes back loses its taints. Deleting the dead node removes its pods.
func TestNodeFailure(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{Controllers: controller.Options{NodeMonitorGracePeriod: 2 * time.Second}})
	ctx := context.Background()
	agent := c.StartSimulatedNodes(t, simulated.Config{Nodes: 3, HeartbeatInterval: 300 * time.Millisecond})
	pods := c.Client.CoreV1().Pods("default")
	for _, p := range []*corev1.Pod{podOn("doomed-a", "sim-0", ptr[int64](2)), podOn("doomed-b", "sim-0", ptr[int64](2)), podOn("survivor", "sim-2", ptr[int64](2))} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	framework.Eventually(t, timeout, "pods running", func() bool {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, p := range list.Items {
			if podReady(&p) != corev1.ConditionTrue {
				return false
			}
		}
		return len(list.Items) == 3
	})

	stopped := time.Now()
	agent.StopNode("sim-0")
	agent.StopNode("sim-1")
	framework.Eventually(t, timeout, "sim-0 Unknown with unreachable taints", func() bool {
		n := getNode(t, c, "sim-0")
		return nodeReady(n) == corev1.ConditionUnknown &&
			hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) &&
			hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule)
	})
	unknownAfter := time.Since(stopped)
	// Grace and toleration count from the node's last heartbeat, which may have been sent
	// (or have been in flight) shortly before or after StopNode: take it from the Lease and
	// the node status rather than from the test's clock.
	lastBeat := time.Time{}
	for _, c := range getNode(t, c, "sim-0").Status.Conditions {
		if c.Type == corev1.NodeReady && (c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status.") {
			t.Fatalf("Ready condition = %+v", c)
		}
		if c.Type == corev1.NodeReady {
			lastBeat = c.LastHeartbeatTime.Time
		}
	}
	lease, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "sim-0", metav1.GetOptions{})
	if err != nil || lease.Spec.RenewTime == nil {
		t.Fatalf("lease of sim-0: %v %+v", err, lease)
	}
	if lease.Spec.RenewTime.After(lastBeat) {
		lastBeat = lease.Spec.RenewTime.Time
	}
	framework.Eventually(t, timeout, "pods of sim-0 evicted", func() bool {
		for _, name := range []string{"doomed-a", "doomed-b"} {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err == nil && p.DeletionTimestamp == nil {
				return false
			}
		}
		return true
	})
	evictedAt := time.Now()
	t.Logf("node Unknown %v after its heartbeats were stopped, pods evicted after %v; last heartbeat %v before the stop",
		unknownAfter.Round(time.Millisecond), evictedAt.Sub(stopped).Round(time.Millisecond), stopped.Sub(lastBeat).Round(time.Millisecond))
	if since := evictedAt.Round(0).Sub(lastBeat); since < 4*time.Second {
		t.Fatalf("pods evicted %v after the node's last heartbeat: before grace (2 s) + toleration (2 s)", since)
	}
	if p, err := pods.Get(ctx, "doomed-a", metav1.GetOptions{}); err == nil && podReady(p) != corev1.ConditionFalse {
		t.Fatalf("pod on the unreachable node still Ready: %+v", p.Status.Conditions)
	}
	framework.Eventually(t, timeout, "TaintManagerEviction events", func() bool {
		events, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=TaintManagerEviction"})
		if err != nil {
			return false
		}
		for _, e := range events.Items {
			if e.Source.Component != "taint-eviction-controller" || !strings.HasPrefix(e.Message, "Marking for deletion Pod default/doomed-") {
				t.Fatalf("eviction event %q from %q, want Kubernetes' text from taint-eviction-controller", e.Message, e.Source.Component)
			}
		}
		return len(events.Items) >= 2
	})
	if p, err := pods.Get(ctx, "survivor", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("pod on a healthy node was touched: %v %+v", err, p)
	}

	// sim-1 comes back: Ready again, taints gone.
	agent.ResumeNode("sim-1")
	framework.Eventually(t, timeout, "sim-1 Ready without taints", func() bool {
		n := getNode(t, c, "sim-1")
		return nodeReady(n) == corev1.ConditionTrue && len(n.Spec.Taints) == 0
	})

	// Deleting the dead node removes its (terminating) pods.
	c.MustKubectl(t, "delete", "node", "sim-0")
	framework.Eventually(t, timeout, "pods of the deleted node gone", func() bool {
		for _, name := range []string{"doomed-a", "doomed-b"} {
			if _, err := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false
			}
		}
		return true
	})
}

// TestNodesWithoutPodCIDR: a cluster CIDR with room for two /24s and three nodes — the
// third gets no pod CIDR, reports NotReady like a kubelet whose network plugin has
// nothing to configure, is tainted not-ready, and the scheduler sends it no pods.
func TestNodesWithoutPodCIDR(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{Controllers: controller.Options{ClusterCIDR: "10.42.0.0/23"}})
	ctx := context.Background()
	c.StartSimulatedNodes(t, simulated.Config{Nodes: 3})
	var starved string
	framework.Eventually(t, timeout, "2 Ready nodes with pod CIDRs and 1 NotReady without", func() bool {
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 3 {
			return false
		}
		ready, notReady := 0, 0
		for _, n := range nodes.Items {
			switch {
			case n.Spec.PodCIDR != "" && nodeReady(&n) == corev1.ConditionTrue:
				ready++
			case n.Spec.PodCIDR == "" && nodeReady(&n) == corev1.ConditionFalse && hasTaint(&n, corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule):
				notReady++
				starved = n.Name
			}
		}
		return ready == 2 && notReady == 1
	})
	for i := range 6 {
		p := podOn(fmt.Sprintf("web-%d", i), "", nil)
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	framework.Eventually(t, timeout, "6 pods Running", func() bool {
		pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 6
	})
	pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == starved {
			t.Errorf("pod %s was scheduled to %s, which has no pod CIDR", p.Name, starved)
		}
	}
}
