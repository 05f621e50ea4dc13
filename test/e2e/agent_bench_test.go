package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/test/e2e/framework"
)

// createAndWaitReady creates pod and returns the time until a watch sees it Running and
// Ready.
func createAndWaitReady(t *testing.T, c *framework.Cluster, pod *corev1.Pod) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods := c.Client.CoreV1().Pods(pod.Namespace)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	start := time.Now()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for ev := range w.ResultChan() {
		if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted && runningAndReady(p) {
			return time.Since(start)
		}
	}
	t.Fatalf("pod %s not Running and Ready within a minute", pod.Name)
	return 0
}

// deleteAndWaitGone deletes the pod and returns the time until the API no longer has it.
func deleteAndWaitGone(t *testing.T, c *framework.Cluster, ns, name string) time.Duration {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, time.Minute, "pod "+name+" gone", func() (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	return time.Since(start)
}

// rssKB reads VmRSS of a process.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}

// cpuTicks is utime+stime of a process, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return utime + stime
}

// Startup latency of the 2-container pod on a warm node through the agent, beside the
// raw CRI calls on the same containerd in the same run; the 10-replica Deployment of
// examples/ on real containers; the agent's RSS and idle CPU.
func TestAgentStartupFiguresAndDeployment(t *testing.T) {
	nginx := framework.Image(t, "nginx:1.20.1")
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"app:0.3.2", "busybox:1.35"}, ExternalAgent: true})
	c.Node.Import(t, nginx)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pid := c.AgentPID()
	framework.Figure(t, "agent_rss_kb_no_pods", rssKB(t, pid))

	// Warm-up: the first pod creates the bridge and the cgroup tree.
	createAndWaitReady(t, c, appWithSidecar("warmup"))
	deleteAndWaitGone(t, c, "default", "warmup")

	const runs = 10
	var agentUp, agentDown, rawUp, rawDown []time.Duration
	// Interleaved, so load from elsewhere on the machine hits both alike.
	for i := range runs {
		name := fmt.Sprintf("bench-%d", i)
		agentUp = append(agentUp, createAndWaitReady(t, c, appWithSidecar(name)))
		agentDown = append(agentDown, deleteAndWaitGone(t, c, "default", name))
		// Without the pod UID label: the agent leaves sandboxes that are not its pods' alone.
		sandbox := c.Node.SandboxConfig(fmt.Sprintf("raw-%d", i))
		delete(sandbox.Labels, "io.kubernetes.pod.uid")
		pod, took := runTwoContainerPodWith(t, ctx, c.Node, sandbox)
		rawUp = append(rawUp, took)
		rawDown = append(rawDown, removePod(t, ctx, c.Node, pod))
	}
	framework.Figure(t, "agent_pod_up_p50_ms", percentile(agentUp, 50).Milliseconds())
	framework.Figure(t, "agent_pod_up_max_ms", percentile(agentUp, 100).Milliseconds())
	framework.Figure(t, "agent_pod_down_p50_ms", percentile(agentDown, 50).Milliseconds())
	framework.Figure(t, "cri_pod_up_p50_ms", percentile(rawUp, 50).Milliseconds())
	framework.Figure(t, "cri_pod_up_max_ms", percentile(rawUp, 100).Milliseconds())
	framework.Figure(t, "cri_pod_down_p50_ms", percentile(rawDown, 50).Milliseconds())
	framework.Figure(t, "agent_vs_cri_up_p50_ratio", fmt.Sprintf("%.2f", float64(percentile(agentUp, 50))/float64(percentile(rawUp, 50))))

	sidecar := readExample[corev1.Pod](t, "02-pod-sidecar.yaml")
	sidecar.Namespace = "default"
	framework.Figure(t, "agent_nginx_sidecar_pod_up_warm_ms", createAndWaitReady(t, c, sidecar).Milliseconds())
	deleteAndWaitGone(t, c, "default", sidecar.Name)

	// examples/03-deployment.yaml: ten nginx+app pods.
	deploy := readExample[appsv1.Deployment](t, "03-deployment.yaml")
	start := time.Now()
	if _, err := c.Client.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 3*time.Minute, "10 pods of the deployment Running and Ready", func() (bool, error) {
		list, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=foo"})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range list.Items {
			if runningAndReady(&list.Items[i]) {
				ready++
			}
		}
		return ready == 10, nil
	})
	framework.Figure(t, "agent_deployment_10_pods_ready_ms", time.Since(start).Milliseconds())
	framework.Eventually(t, time.Minute, "deployment reports 10 available", func() (bool, error) {
		d, err := c.Client.AppsV1().Deployments("default").Get(ctx, deploy.Name, metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 10, err
	})
	containers, err := c.Node.CRI.ListContainers(ctx, &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
	if err != nil {
		t.Fatal(err)
	}
	if len(containers) != 20 {
		t.Errorf("%d running containers, want 20", len(containers))
	}
	framework.Figure(t, "agent_rss_kb_10_pods", rssKB(t, pid))
	// Idle CPU with 10 pods: a 5 s measurement window.
	ticks := cpuTicks(t, pid)
	window := 5 * time.Second
	<-time.After(window)
	framework.Figure(t, "agent_idle_cpu_pct_10_pods", fmt.Sprintf("%.2f", float64(cpuTicks(t, pid)-ticks)/100/window.Seconds()*100))

	if err := c.Client.AppsV1().Deployments("default").Delete(ctx, deploy.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 2*time.Minute, "deployment's pods and sandboxes gone", func() (bool, error) {
		list, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=foo"})
		if err != nil || len(list.Items) > 0 {
			return false, err
		}
		sandboxes, err := c.Node.CRI.ListPodSandbox(ctx, nil)
		return err == nil && len(sandboxes) == 0, err
	})
}
