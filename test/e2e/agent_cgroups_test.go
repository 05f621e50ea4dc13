package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/e2e/framework"
)

// The pod's own cgroup carries the sum of its containers' limits (as the kubelet's
// pod-level cgroup does), so the pod as a whole is held to them.
func TestAgentPodCgroupLimits(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"busybox:1.35"}})
	limits := func(cpu, mem string) corev1.ResourceRequirements {
		l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
		return corev1.ResourceRequirements{Limits: l, Requests: l}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "limited", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptrTo[int64](1),
			Containers: []corev1.Container{
				{Name: "a", Image: "busybox:1.35", Command: []string{"sleep", "3600"}, Resources: limits("250m", "48Mi")},
				{Name: "b", Image: "busybox:1.35", Command: []string{"sleep", "3600"}, Resources: limits("500m", "16Mi")},
			},
		},
	}
	created, err := c.Client.CoreV1().Pods("default").Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", pod.Name, time.Minute, "running", runningAndReady)
	dir := filepath.Join(c.Node.CgroupParent, "pod"+string(created.UID))
	for file, want := range map[string]string{
		"/sys/fs/cgroup/memory" + dir + "/memory.limit_in_bytes": "67108864", // 64 MiB
		"/sys/fs/cgroup/cpu" + dir + "/cpu.cfs_quota_us":         "75000",    // 750m of 100 ms
		"/sys/fs/cgroup/cpu" + dir + "/cpu.shares":               "768",
	} {
		raw, err := os.ReadFile(file)
		if os.IsNotExist(err) {
			t.Skipf("no cgroup v1 %s here", file)
		}
		if err != nil || strings.TrimSpace(string(raw)) != want {
			t.Errorf("%s = %q (%v), want %s", file, raw, err, want)
		}
	}
}
