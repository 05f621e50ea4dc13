package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/test/e2e/framework"
)

// twoContainerPod is the shape of examples/02-pod-sidecar.yaml through raw CRI: a sandbox
// on the CNI bridge, the app and a busybox sidecar sharing its network.
type twoContainerPod struct {
	sandboxID  string
	sandbox    *runtimeapi.PodSandboxConfig
	containers map[string]string // name → container ID
}

// runTwoContainerPod does what the kubelet does for a new pod whose images are present:
// RunPodSandbox, then CreateContainer+StartContainer per container. It returns the time
// of those calls alone.
func runTwoContainerPod(t *testing.T, ctx context.Context, n *framework.Node, name string) (twoContainerPod, time.Duration) {
	t.Helper()
	return runTwoContainerPodWith(t, ctx, n, n.SandboxConfig(name))
}

// runTwoContainerPodWith is runTwoContainerPod with a given sandbox config.
func runTwoContainerPodWith(t *testing.T, ctx context.Context, n *framework.Node, sandbox *runtimeapi.PodSandboxConfig) (twoContainerPod, time.Duration) {
	t.Helper()
	configs := []*runtimeapi.ContainerConfig{
		framework.ContainerConfig(t, sandbox, "app", "app:0.3.2"),
		framework.ContainerConfig(t, sandbox, "sidecar", "busybox:1.35", "sleep", "3600"),
	}
	start := time.Now()
	id, err := n.CRI.RunPodSandbox(ctx, sandbox, "")
	if err != nil {
		t.Fatal(err)
	}
	pod := twoContainerPod{sandboxID: id, sandbox: sandbox, containers: map[string]string{}}
	for _, c := range configs {
		cid, err := n.CRI.CreateContainer(ctx, id, c, sandbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.CRI.StartContainer(ctx, cid); err != nil {
			t.Fatal(err)
		}
		pod.containers[c.Metadata.Name] = cid
	}
	return pod, time.Since(start)
}

// removePod stops and removes the sandbox (and with it the containers) as the kubelet
// does on delete: StopPodSandbox, RemovePodSandbox.
func removePod(t *testing.T, ctx context.Context, n *framework.Node, pod twoContainerPod) time.Duration {
	t.Helper()
	start := time.Now()
	for _, cid := range pod.containers {
		if err := n.CRI.StopContainer(ctx, cid, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.CRI.StopPodSandbox(ctx, pod.sandboxID); err != nil {
		t.Fatal(err)
	}
	if err := n.CRI.RemovePodSandbox(ctx, pod.sandboxID); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func TestPodSandboxWithTwoContainersSharesLocalhost(t *testing.T) {
	n := framework.StartNode(t, framework.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n.Import(t, framework.Image(t, "app:0.3.2"))
	n.Import(t, framework.Image(t, "busybox:1.35"))

	pod, took := runTwoContainerPod(t, ctx, n, "foo-instance-1")
	framework.Figure(t, "cri_first_pod_up_ms", took.Milliseconds())

	// The sidecar reaches the app over the pod's shared localhost.
	// (No wget -T: Debian busybox 1.35 wget segfaults on it.)
	var body string
	framework.Eventually(t, 20*time.Second, "sidecar wget localhost:8080", func() (bool, error) {
		res, err := n.CRI.ExecSync(ctx, pod.containers["sidecar"], []string{"wget", "-qO-", "http://localhost:8080/"}, 5*time.Second)
		if err != nil {
			return false, err
		}
		body = string(res.Stdout)
		return res.ExitCode == 0, fmt.Errorf("wget exit %d: %s", res.ExitCode, res.Stderr)
	})
	if want := "app 0.3.2 on foo-instance-1\n"; body != want {
		t.Errorf("app answered %q, want %q", body, want)
	}

	// The sandbox got an address from the pod CIDR, and the node reaches the app there.
	status, err := n.CRI.PodSandboxStatus(ctx, pod.sandboxID, false)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(status.GetStatus().GetNetwork().GetIp())
	if err != nil || !netip.MustParsePrefix(n.PodCIDR).Contains(ip) {
		t.Fatalf("pod IP %q not in %s (%v)", status.GetStatus().GetNetwork().GetIp(), n.PodCIDR, err)
	}
	got, err := n.HTTPGet("http://"+net.JoinHostPort(ip.String(), "8080")+"/version", 5*time.Second)
	if err == nil && strings.TrimSpace(got) != "0.3.2" {
		err = fmt.Errorf("answered %q", got)
	}
	if err != nil {
		t.Errorf("node → pod %s:8080: %v", ip, err)
	}

	// Both containers run; the app's log went to the pod's log dir.
	containers, err := n.CRI.ListContainers(ctx, &runtimeapi.ContainerFilter{PodSandboxId: pod.sandboxID})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range containers {
		if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("container %s is %s", c.Metadata.Name, c.State)
		}
	}
	if len(containers) != 2 {
		t.Errorf("%d containers in the sandbox, want 2", len(containers))
	}

	took = removePod(t, ctx, n, pod)
	framework.Figure(t, "cri_first_pod_down_ms", took.Milliseconds())
	if _, err := n.CRI.PodSandboxStatus(ctx, pod.sandboxID, false); !cri.IsNotFound(err) {
		t.Errorf("sandbox status after removal: err = %v, want NotFound", err)
	}
}

// TestRawCRIPodStartupBaseline measures what issue 5's bench compares the agent against:
// RunPodSandbox + 2×(CreateContainer + StartContainer) on a warm node, and the teardown.
func TestRawCRIPodStartupBaseline(t *testing.T) {
	n := framework.StartNode(t, framework.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n.Import(t, framework.Image(t, "app:0.3.2"))
	n.Import(t, framework.Image(t, "busybox:1.35"))
	// Warm-up pod: first use of the images unpacks nothing more, but the first sandbox
	// creates the bridge and the cgroup tree.
	warm, _ := runTwoContainerPod(t, ctx, n, "warmup")
	removePod(t, ctx, n, warm)

	const runs = 10
	var up, down []time.Duration
	for i := range runs {
		pod, took := runTwoContainerPod(t, ctx, n, fmt.Sprintf("bench-%d", i))
		up = append(up, took)
		down = append(down, removePod(t, ctx, n, pod))
	}
	framework.Figure(t, "cri_pod_up_p50_ms", percentile(up, 50).Milliseconds())
	framework.Figure(t, "cri_pod_up_max_ms", percentile(up, 100).Milliseconds())
	framework.Figure(t, "cri_pod_down_p50_ms", percentile(down, 50).Milliseconds())
	framework.Figure(t, "cri_pod_down_max_ms", percentile(down, 100).Milliseconds())
}

func percentile(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

// The seed story (examples/02-pod-sidecar.yaml): nginx and the app in one pod, nginx on
// :80 reached from the app container over localhost, and the app behind nginx's /app/.
func TestSidecarPodServesNginxAndAppOverLocalhost(t *testing.T) {
	nginx := framework.Image(t, "nginx:1.20.1")
	n := framework.StartNode(t, framework.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n.Import(t, framework.Image(t, "app:0.3.2"))
	n.Import(t, nginx)

	sandbox := n.SandboxConfig("foo-instance-1")
	id, err := n.CRI.RunPodSandbox(ctx, sandbox, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, c := range []*runtimeapi.ContainerConfig{
		framework.ContainerConfig(t, sandbox, "nginx", "nginx:1.20.1"),
		framework.ContainerConfig(t, sandbox, "app", "app:0.3.2"),
	} {
		cid, err := n.CRI.CreateContainer(ctx, id, c, sandbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.CRI.StartContainer(ctx, cid); err != nil {
			t.Fatal(err)
		}
		ids[c.Metadata.Name] = cid
	}
	for path, want := range map[string]string{"/": "Welcome to nginx!", "/app/": "app 0.3.2 on foo-instance-1"} {
		var body string
		framework.Eventually(t, 20*time.Second, "app container wget localhost:80"+path, func() (bool, error) {
			res, err := n.CRI.ExecSync(ctx, ids["app"], []string{"wget", "-qO-", "http://localhost:80" + path}, 5*time.Second)
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
	st, err := n.CRI.ContainerStatus(ctx, ids["nginx"], false)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("nginx is %s", st.GetStatus().GetState())
	}
}
