package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/test/e2e/framework"
)

// With thresholds no real disk stays under, the agent's image garbage collector removes
// every image no container uses once it is old enough, and keeps the running pod's
// image and the sandbox image.
func TestAgentImageGarbageCollection(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{
		Images: []string{"app:0.3.2", "app:0.3.3", "busybox:1.35"},
		Agent: func(o *agent.Options) {
			o.ImageGC = agent.ImageGCOptions{HighThresholdPercent: 1, LowThresholdPercent: 1, MinAge: 15 * time.Second, Period: 500 * time.Millisecond}
		},
	})
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "keeps-its-image", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:0.3.2", ImagePullPolicy: corev1.PullNever}}},
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", pod.Name, time.Minute, "running", runningAndReady)

	tags := func() ([]string, error) {
		images, err := c.Node.CRI.ListImages(ctx, nil)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, img := range images {
			out = append(out, img.RepoTags...)
		}
		return out, nil
	}
	framework.Eventually(t, time.Minute, "unused images removed", func() (bool, error) {
		have, err := tags()
		if err != nil {
			return false, err
		}
		gone := !slices.ContainsFunc(have, func(tag string) bool {
			return tag == "docker.io/library/app:0.3.3" || tag == "docker.io/library/busybox:1.35"
		})
		return gone, fmt.Errorf("images %v", have)
	})
	have, _ := tags()
	if !slices.Contains(have, "docker.io/library/app:0.3.2") {
		t.Errorf("the running pod's image was removed: %v", have)
	}
	sandbox := false
	for _, tag := range have {
		if len(tag) > len("localhost/berth/pause") && tag[:len("localhost/berth/pause")] == "localhost/berth/pause" {
			sandbox = true
		}
	}
	if !sandbox {
		t.Errorf("the sandbox image was removed: %v", have)
	}
	// Not reaching the low threshold is reported on the node.
	framework.Eventually(t, 30*time.Second, "ImageGCFailed event", func() (bool, error) {
		events, err := c.Client.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reason=ImageGCFailed"})
		if err != nil {
			return false, err
		}
		return len(events.Items) > 0, nil
	})
}
