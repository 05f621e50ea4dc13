// Package disruption tests PodDisruptionBudgets end to end: a real server on embedded
// etcd with its controllers (the disruption controller keeps budget status), simulated
// nodes running the pods, and the real kubectl — get pdb, scale, and drain against a
// budget through the eviction API.
package disruption

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/test/integration/framework"
)

const timeout = 60 * time.Second

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.example/web:1.0
`

const budgets = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web-min
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web-max
spec:
  maxUnavailable: 50%
  selector:
    matchLabels: {app: web}
`

// TestBudgetStatusThroughKubectl: kubectl get pdb shows what the disruption controller
// computed, for an integer minAvailable (counts pods) and a percentage maxUnavailable
// (counts the Deployment's scale), and follows kubectl scale.
func TestBudgetStatusThroughKubectl(t *testing.T) {
	c := startCluster(t, 3)
	apply(t, c, deployment)
	apply(t, c, budgets)

	// 3 healthy pods: minAvailable 2 allows 1; 50% of 3 unavailable rounds up to 2,
	// so 1 must stay healthy and 2 may go.
	waitRows(t, c, map[string]string{"web-min": "2 N/A 1", "web-max": "N/A 50% 2"})
	out := c.MustKubectl(t, "get", "pdb")
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	if strings.Join(header, " ") != "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE" {
		t.Fatalf("kubectl get pdb header:\n%s", out)
	}
	pdb := getBudget(t, c, "web-max")
	s := pdb.Status
	if s.ExpectedPods != 3 || s.DesiredHealthy != 1 || s.CurrentHealthy != 3 || s.ObservedGeneration != pdb.Generation {
		t.Fatalf("web-max status = %+v", s)
	}
	if cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition); cond == nil ||
		cond.Status != metav1.ConditionTrue || cond.Reason != policyv1.SufficientPodsReason {
		t.Fatalf("web-max condition = %+v", s.Conditions)
	}

	// 5 replicas: minAvailable 2 allows 3; 50% of 5 rounds up to 3 unavailable.
	c.MustKubectl(t, "scale", "deployment/web", "--replicas=5")
	waitRows(t, c, map[string]string{"web-min": "2 N/A 3", "web-max": "N/A 50% 3"})

	// 1 replica: minAvailable 2 allows nothing; 50% of 1 rounds up to 1, so it may go.
	c.MustKubectl(t, "scale", "deployment/web", "--replicas=1")
	waitRows(t, c, map[string]string{"web-min": "2 N/A 0", "web-max": "N/A 50% 1"})
	pdb = getBudget(t, c, "web-min")
	if cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition); cond == nil ||
		cond.Status != metav1.ConditionFalse || cond.Reason != policyv1.InsufficientPodsReason {
		t.Fatalf("web-min condition = %+v", pdb.Status.Conditions)
	}

	// Changing the budget's spec: the new generation is observed.
	c.MustKubectl(t, "patch", "pdb", "web-min", "--type=merge", "-p", `{"spec":{"minAvailable":0}}`)
	waitRows(t, c, map[string]string{"web-min": "0 N/A 1"})
	if pdb = getBudget(t, c, "web-min"); pdb.Status.ObservedGeneration != pdb.Generation {
		t.Fatalf("web-min observedGeneration %d, generation %d", pdb.Status.ObservedGeneration, pdb.Generation)
	}
}

// TestDrainHonoursBudget: draining the node with most of a Deployment's pods while a
// budget keeps 2 of 3 available evicts one pod at a time — kubectl drain is refused
// (429) and retries until the replacement runs Ready on the other node. The pods carry
// a readiness gate the test opens, so the replacement becomes Ready only when the test
// says, after the refusal was seen.
func TestDrainHonoursBudget(t *testing.T) {
	c := startCluster(t, 2)
	apply(t, c, strings.Replace(deployment, "    spec:\n", "    spec:\n      readinessGates:\n      - conditionType: "+warmGate+"\n", 1))
	apply(t, c, strings.SplitN(budgets, "---\n", 2)[0])
	framework.Eventually(t, timeout, "3 pods warmed up", func() bool {
		warmUp(t, c)
		pods := listPods(t, c)
		return len(pods) == 3 && ready(&pods[0]) && ready(&pods[1]) && ready(&pods[2])
	})
	waitRows(t, c, map[string]string{"web-min": "2 N/A 1"})

	byNode := map[string][]string{}
	for _, p := range listPods(t, c) {
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
	}
	drained, other := "sim-0", "sim-1"
	if len(byNode["sim-1"]) > len(byNode["sim-0"]) {
		drained, other = other, drained
	}
	if len(byNode[drained]) < 2 {
		t.Fatalf("pods by node %v: want 2 or more on one node", byNode)
	}

	start := time.Now()
	drain := startKubectl(t, c, "drain", drained, "--timeout=90s")
	const refused = "Cannot evict pod as it would violate the pod's disruption budget."
	framework.Eventually(t, timeout, "kubectl drain refused by the budget", func() bool {
		return strings.Contains(drain.output(), refused)
	})
	// One pod went; its replacement runs on the other node, not Ready yet, and the rest
	// of the drained node's pods stay.
	var evicted, kept int
	for _, name := range byNode[drained] {
		p, err := c.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && p.DeletionTimestamp == nil {
			kept++
		} else {
			evicted++
		}
	}
	if evicted != 1 || kept != len(byNode[drained])-1 {
		t.Fatalf("after the refusal %d of %v evicted, %d kept; want 1 evicted", evicted, byNode[drained], kept)
	}
	if pdb := getBudget(t, c, "web-min"); pdb.Status.DisruptionsAllowed != 0 {
		t.Fatalf("budget during the drain allows %d: %+v", pdb.Status.DisruptionsAllowed, pdb.Status)
	}

	// Each replacement warmed up lets kubectl's next retry evict one more.
	framework.Eventually(t, 90*time.Second, "kubectl drain done", func() bool {
		warmUp(t, c)
		return drain.exited()
	})
	out := drain.output()
	t.Logf("drain of %d pods took %v:\n%s", len(byNode[drained]), time.Since(start).Round(time.Millisecond), out)
	if err := drain.err(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	wants := []string{"node/" + drained + " drained"}
	for _, name := range byNode[drained] {
		wants = append(wants, "pod/"+name+" evicted")
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Fatalf("drain output lacks %q", want)
		}
	}

	// Final state: three Ready pods, all on the other node; the budget allows one again.
	framework.Eventually(t, timeout, "3 ready pods on "+other, func() bool {
		pods := listPods(t, c)
		if len(pods) != 3 {
			return false
		}
		for _, p := range pods {
			if p.Spec.NodeName != other || p.DeletionTimestamp != nil || !ready(&p) {
				return false
			}
		}
		return true
	})
	waitRows(t, c, map[string]string{"web-min": "2 N/A 1"})
	if pdb := getBudget(t, c, "web-min"); len(pdb.Status.DisruptedPods) != 0 {
		t.Fatalf("disruptedPods left after the drain: %v", pdb.Status.DisruptedPods)
	}
}

// warmGate is the readiness gate of the drain test's pods.
const warmGate = "example.com/warm"

// warmUp opens the readiness gate of every running pod that still has it closed.
func warmUp(t *testing.T, c *framework.Cluster) {
	t.Helper()
	ctx := context.Background()
	for _, p := range listPods(t, c) {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || hasCondition(&p, warmGate) {
			continue
		}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: warmGate, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
		})
		// A conflict with the node's own status write is retried on the next poll.
		_, _ = c.Client.CoreV1().Pods("default").UpdateStatus(ctx, &p, metav1.UpdateOptions{})
	}
}

func hasCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == t && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// runningKubectl is a kubectl run the test watches while it runs.
type runningKubectl struct {
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	res  error
}

func (k *runningKubectl) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.out.Write(p)
}

func (k *runningKubectl) output() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.out.String()
}

func (k *runningKubectl) exited() bool {
	select {
	case <-k.done:
		return true
	default:
		return false
	}
}

func (k *runningKubectl) err() error {
	<-k.done
	return k.res
}

// startKubectl starts the real kubectl against the cluster, its stdout and stderr
// together in output(); the test's end kills it if it still runs.
func startKubectl(t *testing.T, c *framework.Cluster, args ...string) *runningKubectl {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, framework.KubectlPath(t), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+filepath.Join(c.DataDir, "kubecache"), "HOME="+c.DataDir)
	k := &runningKubectl{done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = k, k
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start kubectl: %v", err)
	}
	go func() {
		defer close(k.done)
		k.res = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-k.done
	})
	return k
}

// startCluster starts a control plane with nodes simulated nodes; deleted pods go after
// 200 ms, so terminating pods are visible for a moment, as with real containers.
func startCluster(t *testing.T, nodes int) *framework.Cluster {
	t.Helper()
	c := framework.StartCluster(t, framework.Options{})
	c.StartSimulatedNodes(t, simulated.Config{Nodes: nodes, DeletionDelay: 200 * time.Millisecond})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pdb:\n%s", c.Kubectl(t, "get", "pdb", "-o", "yaml").Stdout)
			t.Logf("pods:\n%s", c.Kubectl(t, "get", "pods", "-o", "wide").Stdout)
		}
	})
	return c
}

func apply(t *testing.T, c *framework.Cluster, manifest string) {
	t.Helper()
	if r := c.KubectlStdin(t, manifest, "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
}

// waitRows waits until kubectl get pdb shows, for each budget, the columns MIN
// AVAILABLE, MAX UNAVAILABLE and ALLOWED DISRUPTIONS as want says.
func waitRows(t *testing.T, c *framework.Cluster, want map[string]string) {
	t.Helper()
	var last string
	framework.Eventually(t, timeout, fmt.Sprintf("kubectl get pdb showing %v", want), func() bool {
		r := c.Kubectl(t, "get", "pdb", "--no-headers")
		if r.Err != nil {
			return false
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if f := strings.Fields(line); len(f) == 5 {
				got[f[0]] = strings.Join(f[1:4], " ")
			}
		}
		if seen := fmt.Sprint(got); seen != last {
			last = seen
			t.Logf("kubectl get pdb (without AGE): %s", seen)
		}
		for name, cols := range want {
			if got[name] != cols {
				return false
			}
		}
		return true
	})
}

func getBudget(t *testing.T, c *framework.Cluster, name string) *policyv1.PodDisruptionBudget {
	t.Helper()
	pdb, err := c.Client.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pdb %s: %v", name, err)
	}
	return pdb
}

func listPods(t *testing.T, c *framework.Cluster) []corev1.Pod {
	t.Helper()
	list, err := c.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return list.Items
}

func ready(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
