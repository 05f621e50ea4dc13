package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/e2e/framework"
)

// A configMap volume shows the object's keys in a real container and follows an edit;
// a pod whose configMap is missing waits in ContainerCreating with FailedMount.
func TestAgentConfigMapVolumeUpdates(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"busybox:1.35"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cms := c.Client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hello"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withVolume := func(name, configMap string) *corev1.Pod {
		p := busyboxPod(name, "sleep 3600")
		p.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/cfg", ReadOnly: true}}
		return p
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, withVolume("reader", "cfg"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPod(t, c, "default", "reader", time.Minute, "running and ready", runningAndReady)
	if got := exec(t, c, pod, "main", "cat", "/etc/cfg/greeting"); got != "hello" {
		t.Fatalf("/etc/cfg/greeting = %q, want hello", got)
	}
	cm.Data["greeting"] = "bye"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "the edit inside the container", func() (bool, error) {
		got := exec(t, c, pod, "main", "cat", "/etc/cfg/greeting")
		return got == "bye", fmt.Errorf("still %q", got)
	})
	if out := exec(t, c, pod, "main", "sh", "-c", "touch /etc/cfg/x 2>&1 || echo refused"); !strings.Contains(out, "refused") {
		t.Errorf("a readOnly mount was writable: %q", out)
	}

	missing, err := c.Client.CoreV1().Pods("default").Create(ctx, withVolume("no-config", "absent"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "no-config", time.Minute, "waiting in ContainerCreating", func(p *corev1.Pod) bool {
		return waitingReason(p, "main") == "ContainerCreating"
	})
	checkEvents(t, c, missing, "FailedMount")
}
