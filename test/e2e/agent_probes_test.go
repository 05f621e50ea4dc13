package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/e2e/framework"
)

func execProbe(cmd ...string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}, PeriodSeconds: 1, FailureThreshold: 1}
}

// A readiness probe flips the pod Ready when it starts passing; a failing liveness probe
// restarts the container with the kubelet's events.
func TestAgentProbes(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"busybox:1.35"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pods := c.Client.CoreV1().Pods("default")

	t.Run("readiness flips Ready", func(t *testing.T) {
		p := busyboxPod("ready-later", "sleep 3600")
		p.Spec.Containers[0].ReadinessProbe = execProbe("test", "-f", "/tmp/ready")
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := waitPod(t, c, "default", "ready-later", time.Minute, "running, not ready", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && !runningAndReady(p)
		})
		exec(t, c, pod, "main", "touch", "/tmp/ready")
		waitPod(t, c, "default", "ready-later", 30*time.Second, "ready", runningAndReady)
		exec(t, c, pod, "main", "rm", "/tmp/ready")
		waitPod(t, c, "default", "ready-later", 30*time.Second, "unready again", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && !runningAndReady(p)
		})
	})

	t.Run("liveness failure restarts", func(t *testing.T) {
		p := busyboxPod("dies-inside", "sleep 3600")
		p.Spec.Containers[0].LivenessProbe = execProbe("test", "-f", "/tmp/never")
		created, err := pods.Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitPod(t, c, "default", "dies-inside", time.Minute, "restarted by liveness", func(p *corev1.Pod) bool {
			return containerStatus(p, "main").RestartCount >= 1
		})
		checkEvents(t, c, created, "Unhealthy", "Killing")
	})
}
