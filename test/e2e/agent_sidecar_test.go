package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/berth/berth/test/e2e/framework"
)

// sidecarPod has a native sidecar (an init container with restartPolicy Always: the app
// serving on :9090), a regular init container after it that needs the sidecar, and main
// containers that use it over localhost.
func sidecarPod(name string, restart corev1.RestartPolicy, main string) *corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 restart,
			TerminationGracePeriodSeconds: ptrTo[int64](2),
			InitContainers: []corev1.Container{
				{
					Name: "proxy", Image: "app:0.3.3", RestartPolicy: &always,
					Env: []corev1.EnvVar{{Name: "LISTEN", Value: ":9090"}},
					StartupProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(9090)}},
						PeriodSeconds: 1,
					},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(9090)}},
						PeriodSeconds: 1,
					},
				},
				// Runs only once the sidecar has started: it must answer at once.
				{Name: "needs-proxy", Image: "busybox:1.35", Command: []string{"wget", "-qO-", "http://localhost:9090/version"}},
			},
			Containers: []corev1.Container{{Name: "main", Image: "busybox:1.35", Command: []string{"sh", "-c", main}}},
		},
	}
}

func TestAgentNativeSidecars(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"app:0.3.3", "busybox:1.35"}})
	ctx := t.Context()
	initStatus := func(p *corev1.Pod, name string) corev1.ContainerStatus {
		for _, cs := range p.Status.InitContainerStatuses {
			if cs.Name == name {
				return cs
			}
		}
		return corev1.ContainerStatus{}
	}

	t.Run("a long-running pod keeps its sidecar running and ready, restarting it when it exits", func(t *testing.T) {
		pod := sidecarPod("with-sidecar", corev1.RestartPolicyAlways, "wget -qO- http://localhost:9090/version && exec sleep 3600")
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitPod(t, c, "default", pod.Name, time.Minute, "running and ready", runningAndReady)
		proxy := initStatus(got, "proxy")
		if proxy.State.Running == nil || proxy.Started == nil || !*proxy.Started || !proxy.Ready {
			t.Errorf("sidecar status %+v; want running, started, ready", proxy)
		}
		if init := initStatus(got, "needs-proxy"); init.State.Terminated == nil || init.State.Terminated.ExitCode != 0 {
			t.Errorf("init container after the sidecar: %+v; want it completed", init.State)
		}
		// The sidecar exits: it comes back, and the pod stays Running. (kill itself may
		// die with the container's PID namespace, SIGKILLed, before it exits 0.)
		res, err := c.Node.CRI.ExecSync(ctx, containerID(t, got, "proxy"), []string{"kill", "1"}, 5*time.Second)
		if err != nil || (res.ExitCode != 0 && res.ExitCode != 137) {
			t.Fatalf("kill the sidecar's process: %v %+v", err, res)
		}
		got = waitPod(t, c, "default", pod.Name, time.Minute, "sidecar restarted and ready", func(p *corev1.Pod) bool {
			s := initStatus(p, "proxy")
			return s.RestartCount >= 1 && s.Ready && runningAndReady(p)
		})
		if main := containerStatus(got, "main"); main.RestartCount != 0 {
			t.Errorf("main container restarted %d times; want only the sidecar restarted", main.RestartCount)
		}
	})

	t.Run("a pod that completes stops its sidecar and succeeds", func(t *testing.T) {
		pod := sidecarPod("job-with-sidecar", corev1.RestartPolicyNever, "wget -qO- http://localhost:9090/version")
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitPod(t, c, "default", pod.Name, time.Minute, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		framework.Eventually(t, 30*time.Second, "sidecar stopped", func() (bool, error) {
			res, err := c.Node.CRI.ContainerStatus(ctx, containerID(t, got, "proxy"), false)
			if err != nil {
				return false, err
			}
			st := res.GetStatus().GetState().String()
			return st == "CONTAINER_EXITED", fmt.Errorf("sidecar %s", st)
		})
		if out := logsOf(t, c, pod.Name, "main"); out != "0.3.3\n" {
			t.Errorf("main printed %q; want the sidecar's version", out)
		}
	})
}

func logsOf(t *testing.T, c *framework.Cluster, pod, container string) string {
	t.Helper()
	raw, err := c.Client.CoreV1().Pods("default").GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", pod, container, err)
	}
	return string(raw)
}
