package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"

	"github.com/berth/berth/test/e2e/framework"
)

// readExample decodes one manifest of examples/.
func readExample[T any](t *testing.T, name string) *T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	obj := new(T)
	if err := yaml.UnmarshalStrict(raw, obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return obj
}

// waitPod polls the pod until cond holds.
func waitPod(t *testing.T, c *framework.Cluster, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	framework.Eventually(t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, what), func() (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		if cond(p) {
			return true, nil
		}
		return false, fmt.Errorf("phase %s, containers %s", p.Status.Phase, summarize(p))
	})
	return pod
}

func runningAndReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerID is the CRI ID of a container from the pod's status.
func containerID(t *testing.T, p *corev1.Pod, name string) string {
	t.Helper()
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name == name {
			return strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	t.Fatalf("pod %s has no status for container %s", p.Name, name)
	return ""
}

// The seed story through the API: examples/02-pod-sidecar.yaml becomes 2/2 Running with
// a pod IP from the node's CIDR, and the app container reaches nginx over localhost.
func TestAgentRunsSidecarPod(t *testing.T) {
	nginx := framework.Image(t, "nginx:1.20.1")
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"app:0.3.2"}})
	c.Node.Import(t, nginx)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	node, err := c.Client.CoreV1().Nodes().Get(ctx, c.Node.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkNode(t, node)

	pod := readExample[corev1.Pod](t, "02-pod-sidecar.yaml")
	pod.Namespace = "default"
	start := time.Now()
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, c, "default", pod.Name, time.Minute, "Running and Ready", runningAndReady)
	framework.Figure(t, "agent_sidecar_pod_create_to_running_cold_ms", time.Since(start).Milliseconds())

	ip, err := netip.ParseAddr(got.Status.PodIP)
	if err != nil || !netip.MustParsePrefix(node.Spec.PodCIDR).Contains(ip) {
		t.Errorf("pod IP %q not in the node's pod CIDR %s", got.Status.PodIP, node.Spec.PodCIDR)
	}
	if got.Status.HostIP == "" || got.Status.StartTime == nil || got.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status lacks hostIP/startTime/qosClass: %+v", got.Status)
	}
	for _, cs := range got.Status.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 ||
			!strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || !strings.HasPrefix(cs.Image, "docker.io/library/") {
			t.Errorf("container status %+v", cs)
		}
	}
	for _, want := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		found := false
		for _, cond := range got.Status.Conditions {
			found = found || (cond.Type == want && cond.Status == corev1.ConditionTrue)
		}
		if !found {
			t.Errorf("condition %s not True: %+v", want, got.Status.Conditions)
		}
	}

	appID := containerID(t, got, "app")
	for path, want := range map[string]string{"/": "Welcome to nginx!", "/app/": "app 0.3.2 on foo-instance-1"} {
		var body string
		framework.Eventually(t, 20*time.Second, "app container wget localhost:80"+path, func() (bool, error) {
			res, err := c.Node.CRI.ExecSync(ctx, appID, []string{"wget", "-qO-", "http://localhost:80" + path}, 5*time.Second)
			if err != nil {
				return false, err
			}
			body = string(res.Stdout)
			return res.ExitCode == 0, fmt.Errorf("wget exit %d: %s", res.ExitCode, res.Stderr)
		})
		if !strings.Contains(body, want) {
			t.Errorf("GET localhost:80%s = %q, want it to contain %q", path, body, want)
		}
	}
	checkEvents(t, c, got, "Pulled", "Created", "Started")

	// Delete: containers stop, the sandbox goes, then the pod object.
	sandboxes, err := c.Node.CRI.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(got.UID)}})
	if err != nil || len(sandboxes) != 1 {
		t.Fatalf("sandboxes of the pod: %v, %v", sandboxes, err)
	}
	start = time.Now()
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, time.Minute, "pod gone from the API", func() (bool, error) {
		_, err := c.Client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	framework.Figure(t, "agent_pod_delete_to_gone_ms", time.Since(start).Milliseconds())
	if _, err := c.Node.CRI.PodSandboxStatus(ctx, sandboxes[0].Id, false); err == nil {
		t.Errorf("sandbox %s still exists after the pod was deleted", sandboxes[0].Id)
	}
	if _, err := c.Node.CRI.ContainerStatus(ctx, appID, false); err == nil {
		t.Errorf("container %s still exists after the pod was deleted", appID)
	}
	for _, h := range []string{"cpu", "memory", "pids"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, c.Node.CgroupParent, "pod"+string(got.UID))); err == nil {
			t.Errorf("pod cgroup left in %s", h)
		}
	}
}

// checkNode checks what the agent registered.
func checkNode(t *testing.T, node *corev1.Node) {
	t.Helper()
	if node.Spec.PodCIDR == "" {
		t.Error("node has no pod CIDR")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
		if q, ok := node.Status.Capacity[r]; !ok || q.IsZero() {
			t.Errorf("capacity %s missing", r)
		}
		if q, ok := node.Status.Allocatable[r]; !ok || q.IsZero() {
			t.Errorf("allocatable %s missing", r)
		}
	}
	if q := node.Status.Capacity[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("pods capacity %v", q.Value())
	}
	info := node.Status.NodeInfo
	if info.KernelVersion == "" || info.OSImage == "" || !strings.HasPrefix(info.ContainerRuntimeVersion, "containerd://1.6") || info.KubeletVersion == "" {
		t.Errorf("nodeInfo %+v", info)
	}
	types := map[corev1.NodeAddressType]bool{}
	for _, a := range node.Status.Addresses {
		types[a.Type] = true
	}
	if !types[corev1.NodeInternalIP] || !types[corev1.NodeHostName] {
		t.Errorf("addresses %v", node.Status.Addresses)
	}
	conds := map[corev1.NodeConditionType]corev1.ConditionStatus{}
	for _, c := range node.Status.Conditions {
		conds[c.Type] = c.Status
	}
	want := map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: corev1.ConditionTrue, corev1.NodeMemoryPressure: corev1.ConditionFalse,
		corev1.NodeDiskPressure: corev1.ConditionFalse, corev1.NodePIDPressure: corev1.ConditionFalse,
	}
	for k, v := range want {
		if conds[k] != v {
			t.Errorf("condition %s = %q, want %q", k, conds[k], v)
		}
	}
	if len(node.Status.Images) == 0 {
		t.Error("node lists no images")
	}
}

// checkEvents checks that the kubelet-style events of the pod include reasons.
func checkEvents(t *testing.T, c *framework.Cluster, pod *corev1.Pod, reasons ...string) {
	t.Helper()
	framework.Eventually(t, 10*time.Second, "events "+strings.Join(reasons, ","), func() (bool, error) {
		list, err := c.Client.CoreV1().Events(pod.Namespace).List(context.Background(), metav1.ListOptions{
			FieldSelector: "involvedObject.uid=" + string(pod.UID),
		})
		if err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, e := range list.Items {
			if e.Source.Component == "kubelet" {
				seen[e.Reason] = true
			}
		}
		for _, r := range reasons {
			if !seen[r] {
				return false, fmt.Errorf("no %s event yet (have %v)", r, seen)
			}
		}
		return true, nil
	})
}

// summarize renders each container's state for failure messages.
func summarize(p *corev1.Pod) string {
	var parts []string
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		state := "?"
		switch {
		case cs.State.Running != nil:
			state = "running"
		case cs.State.Waiting != nil:
			state = "waiting " + cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message
		case cs.State.Terminated != nil:
			state = fmt.Sprintf("terminated %s (%d): %s", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode, cs.State.Terminated.Message)
		}
		parts = append(parts, fmt.Sprintf("%s[%d] %s", cs.Name, cs.RestartCount, state))
	}
	return strings.Join(parts, "; ")
}
