package nodes

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/test/integration/framework"
)

// TestCordonDrainUncordon runs the real kubectl against simulated nodes: cordon marks
// the node unschedulable (and tainted), drain evicts its pods through pods/eviction and
// the node finishes them, uncordon undoes it all.
func TestCordonDrainUncordon(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()
	c.StartSimulatedNodes(t, simulated.Config{Nodes: 2})
	pods := c.Client.CoreV1().Pods("default")
	for _, p := range []*corev1.Pod{podOn("a", "sim-0", nil), podOn("b", "sim-0", nil), podOn("keep", "sim-1", nil)} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	framework.Eventually(t, timeout, "pods running", func() bool {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 3 {
			return false
		}
		for _, p := range list.Items {
			if p.Status.Phase != corev1.PodRunning {
				return false
			}
		}
		return true
	})

	if out := c.MustKubectl(t, "cordon", "sim-0"); !strings.Contains(out, "node/sim-0 cordoned") {
		t.Fatalf("cordon: %s", out)
	}
	framework.Eventually(t, timeout, "cordoned node tainted unschedulable", func() bool {
		n := getNode(t, c, "sim-0")
		return n.Spec.Unschedulable && hasTaint(n, corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	})
	if out := c.MustKubectl(t, "get", "node", "sim-0"); !strings.Contains(out, "Ready,SchedulingDisabled") {
		t.Fatalf("kubectl get node after cordon:\n%s", out)
	}

	r := c.Kubectl(t, "drain", "sim-0", "--force", "--grace-period=10", "--timeout=30s")
	if r.Err != nil {
		t.Fatalf("drain: %v\nstdout: %s\nstderr: %s", r.Err, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"evicting pod default/a", "pod/a evicted", "pod/b evicted", "node/sim-0 drained"} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Fatalf("drain output lacks %q:\nstdout: %s\nstderr: %s", want, r.Stdout, r.Stderr)
		}
	}
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "keep" {
		t.Fatalf("after drain pods = %v (%v), want only keep", names(list), err)
	}

	c.MustKubectl(t, "uncordon", "sim-0")
	framework.Eventually(t, timeout, "uncordoned node untainted", func() bool {
		n := getNode(t, c, "sim-0")
		return !n.Spec.Unschedulable && len(n.Spec.Taints) == 0
	})
}

// TestEvictionAPI checks pods/eviction's answers: 404 for a missing pod, 409 for a failed
// precondition, dry run touching nothing, and a real eviction honouring the grace period
// and marking the pod DisruptionTarget (on a silent node, so the pod stays Terminating).
func TestEvictionAPI(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()
	agent := c.StartSimulatedNodes(t, simulated.Config{Nodes: 1})
	pods := c.Client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, podOn("p", "sim-0", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, timeout, "pod running", func() bool {
		p, err := pods.Get(ctx, "p", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	})
	evict := func(name string, opts *metav1.DeleteOptions) error {
		return pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, DeleteOptions: opts})
	}

	if err := evict("missing", nil); !apierrors.IsNotFound(err) {
		t.Fatalf("evict missing pod: %v, want 404", err)
	}
	wrongUID := types.UID("not-the-uid")
	if err := evict("p", &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrongUID}}); !apierrors.IsConflict(err) {
		t.Fatalf("evict with a wrong UID: %v, want 409", err)
	}
	if err := evict("p", &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run eviction: %v", err)
	}
	if p, err := pods.Get(ctx, "p", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("dry run changed the pod: %v %v", err, p.DeletionTimestamp)
	}

	agent.StopNode("sim-0")
	p, _ := pods.Get(ctx, "p", metav1.GetOptions{})
	rv := p.ResourceVersion
	if err := evict("p", &metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](60), Preconditions: &metav1.Preconditions{UID: &p.UID, ResourceVersion: &rv}}); err != nil {
		t.Fatalf("evict: %v", err)
	}
	p, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 60 {
		t.Fatalf("evicted pod = %v %+v, want terminating with grace 60", err, p.ObjectMeta)
	}
	found := false
	for _, cond := range p.Status.Conditions {
		found = found || (cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == "EvictionByEvictionAPI")
	}
	if !found {
		t.Fatalf("no DisruptionTarget condition: %+v", p.Status.Conditions)
	}
	// The node comes back and finishes the pod.
	agent.ResumeNode("sim-0")
	framework.Eventually(t, timeout, "evicted pod gone", func() bool {
		_, err := pods.Get(ctx, "p", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

func names(list *corev1.PodList) []string {
	if list == nil {
		return nil
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	return out
}
