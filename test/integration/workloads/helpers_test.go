// Package workloads tests ReplicaSets, ReplicationControllers and Deployments end to end:
// a real server on embedded etcd (with the real scheduler), simulated nodes running the
// pods, and the real kubectl.
package workloads

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/berth/berth/internal/agent/simulated"
	"github.com/berth/berth/test/integration/framework"
)

const waitTimeout = 60 * time.Second

// startCluster starts a control plane with three simulated nodes (one per zone); the real
// scheduler places pods, the simulated kubelets run them and finish their deletion after
// deletionDelay (so terminating pods are visible for a moment, as with real containers).
func startCluster(t *testing.T, deletionDelay time.Duration) *framework.Cluster {
	t.Helper()
	c := framework.StartCluster(t, framework.Options{})
	c.StartSimulatedNodes(t, simulated.Config{Nodes: 3, Zones: 3, DeletionDelay: deletionDelay})
	t.Cleanup(func() {
		if t.Failed() {
			dumpState(t, c.Client)
		}
	})
	return c
}

// dumpState logs workloads and pods, to see where a failed test stopped.
func dumpState(t *testing.T, client kubernetes.Interface) {
	ctx := context.Background()
	ds, _ := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	for _, d := range ds.Items {
		t.Logf("deployment %s gen %d spec %d status %+v", d.Name, d.Generation, *d.Spec.Replicas, d.Status)
	}
	rss, _ := client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
	for _, rs := range rss.Items {
		t.Logf("replicaset %s gen %d spec %d status %+v", rs.Name, rs.Generation, *rs.Spec.Replicas, rs.Status)
	}
	pods, _ := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		t.Logf("pod %s node %q phase %s ready %v deleting %v rv %s", p.Name, p.Spec.NodeName, p.Status.Phase, ready(&p), p.DeletionTimestamp, p.ResourceVersion)
	}
}

// applyStdin runs kubectl apply -f - with manifest.
func applyStdin(t *testing.T, c *framework.Cluster, manifest string) {
	t.Helper()
	r := c.KubectlStdin(t, manifest, "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
}

func exampleFile(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("example %s: %v", name, err)
	}
	return path
}

func getDeployment(t *testing.T, client kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return d
}

// waitRolledOut waits until the Deployment's latest template runs on all replicas, all
// available, and nothing else runs.
func waitRolledOut(t *testing.T, client kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	framework.Eventually(t, waitTimeout, "deployment "+name+" rolled out", func() bool {
		d = getDeployment(t, client, ns, name)
		n := *d.Spec.Replicas
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.Replicas == n && s.AvailableReplicas == n &&
			len(activePods(t, client, ns, "")) == int(n)
	})
	return d
}

// activePods lists the pods that count as replicas (not terminating, not finished).
func activePods(t *testing.T, client kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if active(&p) {
			out = append(out, p)
		}
	}
	return out
}

func active(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func containerImage(p *corev1.Pod, container string) string {
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

func replicaSetsOf(t *testing.T, client kubernetes.Interface, ns, selector string) []appsv1.ReplicaSet {
	t.Helper()
	list, err := client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list replicasets: %v", err)
	}
	return list.Items
}

// podWatch follows every pod event of a namespace and keeps the extremes a rollout
// must respect.
type podWatch struct {
	mu   sync.Mutex
	pods map[string]*corev1.Pod
	// maxActive is the most pods counting as replicas at once; minReady the fewest ready.
	maxActive, minReady int
	// overlapAt describes the first moment pods of two images of container that had not
	// finished existed at once (terminating pods included: they may still run); empty
	// when never.
	overlapAt string
	container string
	events    int
	stop      func()
	done      chan struct{}
}

func watchPods(t *testing.T, client kubernetes.Interface, ns, container string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatalf("list pods: %v", err)
	}
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		cancel()
		t.Fatalf("watch pods: %v", err)
	}
	pw := &podWatch{pods: map[string]*corev1.Pod{}, minReady: 1 << 30, container: container, done: make(chan struct{})}
	for i := range list.Items {
		pw.pods[list.Items[i].Name] = &list.Items[i]
	}
	pw.record()
	pw.stop = func() { cancel(); w.Stop() }
	go func() {
		defer close(pw.done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			switch ev.Type {
			case watch.Added, watch.Modified:
				pw.pods[pod.Name] = pod
			case watch.Deleted:
				delete(pw.pods, pod.Name)
			}
			pw.events++
			pw.mu.Unlock()
			pw.record()
		}
	}()
	t.Cleanup(pw.stop)
	return pw
}

func (pw *podWatch) record() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	activeN, readyN := 0, 0
	images := map[string]int{}
	for _, p := range pw.pods {
		// A pod that finished (its containers terminated, the node not yet done deleting
		// it) runs nothing: Recreate, as Kubernetes', may start the new pods then.
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			images[containerImage(p, pw.container)]++
		}
		if active(p) {
			activeN++
			if ready(p) {
				readyN++
			}
		}
	}
	pw.maxActive = max(pw.maxActive, activeN)
	pw.minReady = min(pw.minReady, readyN)
	if len(images) > 1 && pw.overlapAt == "" {
		pw.overlapAt = fmt.Sprintf("after %d events: %v", pw.events, images)
	}
}

// finish stops the watch and returns its figures.
func (pw *podWatch) finish() (maxActive, minReady int, overlapAt string, events int) {
	pw.stop()
	<-pw.done
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.maxActive, pw.minReady, pw.overlapAt, pw.events
}

func eventMessages(t *testing.T, client kubernetes.Interface, ns, kind, name string) []string {
	t.Helper()
	list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name,
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// waitForEvent waits for an event on the object whose "reason: message" contains want.
func waitForEvent(t *testing.T, client kubernetes.Interface, ns, kind, name, want string) {
	t.Helper()
	var seen []string
	framework.Eventually(t, waitTimeout, fmt.Sprintf("event %q on %s %s", want, kind, name), func() bool {
		seen = eventMessages(t, client, ns, kind, name)
		for _, m := range seen {
			if strings.Contains(m, want) {
				return true
			}
		}
		return false
	})
}
