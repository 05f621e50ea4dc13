// Package eviction tests the eviction API against PodDisruptionBudgets, as kubectl drain
// meets it.
package eviction

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/berth/berth/test/integration/framework"
)

const pdbManifest = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
`

// runningPod creates a pod bound to node and reports it Running (Ready as given), as a
// kubelet would; the API-only cluster runs no scheduler or kubelet.
func runningPod(t *testing.T, client kubernetes.Interface, name, node string, ready bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "app"}}},
	}
	pod, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if pod, err = client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pod
}

// setBudget writes the status a disruption controller would.
func setBudget(t *testing.T, client kubernetes.Interface, allowed, current, desired int32) {
	t.Helper()
	ctx := context.Background()
	pdb, err := client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed,
		CurrentHealthy: current, DesiredHealthy: desired, ExpectedPods: 3}
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func evict(client kubernetes.Interface, name string, dry bool) error {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if dry {
		ev.DeleteOptions = &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}
	}
	// No retries: client-go would wait out a Retry-After (10 s for a budget the controller
	// has not seen yet, as in Kubernetes) and try again; the test looks at the first answer.
	return client.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name(name).
		SubResource("eviction").Body(ev).MaxRetries(0).Do(context.Background()).Error()
}

// wantRefused checks a 429 with Kubernetes' message and the DisruptionBudget cause.
func wantRefused(t *testing.T, err error, cause string) {
	t.Helper()
	var status apierrors.APIStatus
	if !apierrors.IsTooManyRequests(err) || err.Error() != "Cannot evict pod as it would violate the pod's disruption budget." {
		t.Fatalf("eviction: %v, want 429 refusal", err)
	}
	status, _ = err.(apierrors.APIStatus)
	d := status.Status().Details
	if d == nil || len(d.Causes) != 1 || d.Causes[0].Type != policyv1.DisruptionBudgetCause || d.Causes[0].Message != cause {
		t.Fatalf("details %+v, want cause %q", d, cause)
	}
}

func TestEvictionHonoursDisruptionBudget(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	client := c.Client
	if r := c.KubectlStdin(t, pdbManifest, "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("kubectl apply: %v\n%s", r.Err, r.Stderr)
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		runningPod(t, client, fmt.Sprintf("web-%d", i), "node-1", true)
	}
	out := c.MustKubectl(t, "get", "pdb", "web")
	if !strings.Contains(out, "NAME   MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE") || !strings.Contains(out, "web    2               N/A               0") {
		t.Fatalf("kubectl get pdb:\n%s", out)
	}

	// Not yet looked at by the disruption controller: refused, to be retried.
	wantRefused(t, evict(client, "web-0", false), "The disruption budget web is still being processed by the server.")

	setBudget(t, client, 1, 3, 2)
	if err := evict(client, "web-0", true); err != nil {
		t.Fatalf("dry-run eviction: %v", err)
	}
	if err := evict(client, "web-0", false); err != nil {
		t.Fatalf("eviction allowed by the budget: %v", err)
	}
	pdb, err := client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pdb.Status.DisruptedPods["web-0"]; pdb.Status.DisruptionsAllowed != 0 || !ok || len(pdb.Status.DisruptedPods) != 1 {
		t.Fatalf("budget after one eviction (the dry run must not count): %+v", pdb.Status)
	}
	if len(pdb.Status.Conditions) != 1 || pdb.Status.Conditions[0].Reason != policyv1.InsufficientPodsReason || pdb.Status.Conditions[0].Status != metav1.ConditionFalse {
		t.Fatalf("conditions %+v", pdb.Status.Conditions)
	}
	gone, err := client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil || gone.DeletionTimestamp == nil {
		t.Fatalf("evicted pod: %v %+v", err, gone)
	}

	// The budget is spent: the next healthy pod stays.
	wantRefused(t, evict(client, "web-1", false), "The disruption budget web needs 2 healthy pods and has 3 currently")
	r := c.Kubectl(t, "drain", "node-1", "--ignore-daemonsets", "--force", "--timeout=2s", "--pod-selector=app=web")
	if r.Err == nil || !strings.Contains(r.Stdout+r.Stderr, "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Fatalf("kubectl drain against a spent budget: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}

	// An unready pod may go while the budget is met, without spending it; a pending
	// one always.
	runningPod(t, client, "web-unready", "node-1", false)
	setBudget(t, client, 0, 2, 2)
	if err := evict(client, "web-unready", false); err != nil {
		t.Fatalf("evicting an unready pod of a healthy budget: %v", err)
	}
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-pending", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "app"}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pending, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict(client, "web-pending", false); err != nil {
		t.Fatalf("evicting a pending pod: %v", err)
	}

	// Two budgets over one pod: the eviction API cannot choose.
	second := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web-too"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &intstr.IntOrString{Type: intstr.String, StrVal: "50%"},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if _, err := client.PolicyV1().PodDisruptionBudgets("default").Create(ctx, second, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict(client, "web-2", false); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "more than one PodDisruptionBudget") {
		t.Fatalf("eviction under two budgets: %v", err)
	}
}

// TestPodDisruptionBudgetValidation: Kubernetes' rules and messages, through kubectl.
func TestPodDisruptionBudgetValidation(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	for _, tc := range []struct{ spec, want string }{
		{"{minAvailable: 1, maxUnavailable: 1}", "minAvailable and maxUnavailable cannot be both set"},
		{"{maxUnavailable: 120%}", `spec.maxUnavailable: Invalid value: "120%": must not be greater than 100%`},
		{"{minAvailable: -1}", "spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"},
		{"{minAvailable: 1, unhealthyPodEvictionPolicy: Sometimes}", `spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget"`},
	} {
		manifest := "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: bad}\nspec: " + tc.spec + "\n"
		r := c.KubectlStdin(t, manifest, "apply", "-f", "-")
		if r.Err == nil || !strings.Contains(r.Stderr, `The PodDisruptionBudget "bad" is invalid`) || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("spec %s: %v\n%s", tc.spec, r.Err, r.Stderr)
		}
	}
}
