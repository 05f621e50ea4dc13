package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/test/e2e/framework"
)

// appWithSidecar is the raw CRI baseline's shape as a pod: the app and a busybox sidecar.
func appWithSidecar(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers: []corev1.Container{
				{Name: "app", Image: "app:0.3.2"},
				{Name: "sidecar", Image: "busybox:1.35", Command: []string{"sleep", "3600"}},
			},
		},
	}
}

// runtimeView is what the runtime has of a pod: sandboxes and containers by state.
func runtimeView(t *testing.T, c *framework.Cluster, uid string) (sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) {
	t.Helper()
	ctx := context.Background()
	sel := map[string]string{"io.kubernetes.pod.uid": uid}
	sandboxes, err := c.Node.CRI.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	containers, err = c.Node.CRI.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	return sandboxes, containers
}

// Restarting the agent — leaving containerd running, or stopping it too — re-adopts the
// pods without restarting a container; a reboot-like kill of containerd, shims and
// containers brings every pod back in a new sandbox.
func TestAgentRestartAdoptsPodsAndRebootBringsThemBack(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{
		Images: []string{"app:0.3.2", "busybox:1.35"}, ExternalAgent: true, LeaveRunning: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pods := c.Client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, appWithSidecar("keeper"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := waitPod(t, c, "default", "keeper", time.Minute, "Running", runningAndReady)
	uid := string(before.UID)
	ids := map[string]string{"app": containerID(t, before, "app"), "sidecar": containerID(t, before, "sidecar")}

	// Each restart ends when a pod created afterwards runs: by then the new agent has
	// synced every pod it found.
	restart := func(t *testing.T, name string) {
		t.Helper()
		start := time.Now()
		c.StopAgent(t)
		sandboxes, containers := runtimeView(t, c, uid)
		if len(sandboxes) != 1 || len(containers) != 2 {
			t.Fatalf("runtime has %d sandboxes, %d containers of the pod while no agent runs", len(sandboxes), len(containers))
		}
		c.StartAgent(t)
		if _, err := pods.Create(ctx, appWithSidecar(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPod(t, c, "default", name, time.Minute, "Running", runningAndReady)
		framework.Figure(t, "agent_restart_to_new_pod_running_ms", time.Since(start).Milliseconds())
		after, err := pods.Get(ctx, "keeper", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !runningAndReady(after) {
			t.Errorf("keeper not running and ready after the restart: %+v", after.Status)
		}
		for name, id := range ids {
			if got := containerID(t, after, name); got != id {
				t.Errorf("container %s is %s after the restart, was %s", name, got, id)
			}
			if cs := containerStatus(after, name); cs.RestartCount != 0 {
				t.Errorf("container %s restartCount %d", name, cs.RestartCount)
			}
		}
		sandboxes, containers = runtimeView(t, c, uid)
		if len(sandboxes) != 1 || len(containers) != 2 {
			t.Errorf("runtime has %d sandboxes, %d containers of the pod after the restart", len(sandboxes), len(containers))
		}
		for _, ctr := range containers {
			if ctr.State != runtimeapi.ContainerState_CONTAINER_RUNNING || ids[ctr.Metadata.Name] != ctr.Id {
				t.Errorf("container %s (%s) %s after the restart", ctr.Metadata.Name, ctr.Id, ctr.State)
			}
		}
	}
	t.Run("agent restart leaving containerd running", func(t *testing.T) { restart(t, "after-restart-1") })
	t.Run("agent and containerd restart", func(t *testing.T) {
		c.Opts.LeaveRunning = false
		restart(t, "after-restart-2")
	})

	t.Run("reboot-like kill brings the pods back", func(t *testing.T) {
		start := time.Now()
		c.Reboot(t)
		after := waitPod(t, c, "default", "keeper", 2*time.Minute, "back with new containers", func(p *corev1.Pod) bool {
			return runningAndReady(p) && containerID(t, p, "app") != ids["app"]
		})
		framework.Figure(t, "agent_reboot_to_pod_running_ms", time.Since(start).Milliseconds())
		for _, name := range []string{"app", "sidecar"} {
			cs := containerStatus(after, name)
			if cs.RestartCount < 1 || cs.LastTerminationState.Terminated == nil {
				t.Errorf("container %s after reboot: restartCount %d, lastState %+v", name, cs.RestartCount, cs.LastTerminationState)
			}
		}
		for _, other := range []string{"after-restart-1", "after-restart-2"} {
			waitPod(t, c, "default", other, 2*time.Minute, "Running after the reboot", runningAndReady)
		}
		framework.Eventually(t, 30*time.Second, "old sandbox removed", func() (bool, error) {
			sandboxes, _ := runtimeView(t, c, uid)
			ready := 0
			for _, sb := range sandboxes {
				if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
					ready++
				}
			}
			return ready == 1, nil
		})
		// The pod still answers on the pod network from its new sandbox.
		res, err := c.Node.CRI.ExecSync(ctx, containerID(t, after, "sidecar"), []string{"wget", "-qO-", "http://localhost:8080/"}, 5*time.Second)
		if err != nil || res.ExitCode != 0 {
			t.Errorf("sidecar → app after reboot: %v %s", err, res.Stderr)
		}
	})
}
