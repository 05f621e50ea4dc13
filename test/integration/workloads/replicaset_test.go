package workloads

import (
	"context"
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth/berth/test/integration/framework"
)

const replicaSetYAML = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
        tier: front
      annotations:
        note: copied
    spec:
      containers:
      - name: app
        image: app:0.3.2
`

// TestReplicaSetOwnership: pods are created from the template, an orphan that matches is
// adopted (and the surplus deleted), a pod relabelled out of the selector is released and
// replaced, and kubectl scale works on the scale subresource.
func TestReplicaSetOwnership(t *testing.T) {
	c := startCluster(t, 0)
	ctx := context.Background()
	applyStdin(t, c, replicaSetYAML)
	waitReadyCount(t, c, "app=web", 3)
	rs, err := c.Client.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^web-[a-z0-9]{5}$`)
	for _, p := range activePods(t, c.Client, "default", "app=web") {
		if !name.MatchString(p.Name) || p.Labels["tier"] != "front" || p.Annotations["note"] != "copied" {
			t.Errorf("pod %s labels %v annotations %v", p.Name, p.Labels, p.Annotations)
		}
	}
	framework.Eventually(t, waitTimeout, "status", func() bool {
		rs, _ = c.Client.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
		s := rs.Status
		return s.ObservedGeneration == rs.Generation && s.Replicas == 3 && s.FullyLabeledReplicas == 3 && s.ReadyReplicas == 3 &&
			s.AvailableReplicas == 3 && s.TerminatingReplicas != nil && *s.TerminatingReplicas == 0
	})

	t.Run("adopt orphan", func(t *testing.T) {
		orphan := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:0.3.2"}}},
		}
		created, err := c.Client.CoreV1().Pods("default").Create(ctx, orphan, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, waitTimeout, "orphan adopted and 3 pods again", func() bool {
			p, err := c.Client.CoreV1().Pods("default").Get(ctx, "orphan", metav1.GetOptions{})
			if err == nil && p.UID == created.UID && p.DeletionTimestamp == nil {
				ref := metav1.GetControllerOf(p)
				if ref == nil || ref.UID != rs.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
					return false
				}
			}
			return len(activePods(t, c.Client, "default", "app=web")) == 3
		})
		// Only an adopted orphan makes four pods, so the surplus deletion proves adoption.
		waitForEvent(t, c.Client, "default", "ReplicaSet", "web", "SuccessfulDelete: Deleted pod: ")
	})

	t.Run("release relabelled pod", func(t *testing.T) {
		victim := activePods(t, c.Client, "default", "app=web")[0]
		c.MustKubectl(t, "label", "pod", victim.Name, "app=debug", "--overwrite")
		framework.Eventually(t, waitTimeout, "pod released and replaced", func() bool {
			p, err := c.Client.CoreV1().Pods("default").Get(ctx, victim.Name, metav1.GetOptions{})
			return err == nil && metav1.GetControllerOf(p) == nil && len(readyPods(t, c, "app=web")) == 3
		})
	})

	t.Run("kubectl scale", func(t *testing.T) {
		c.MustKubectl(t, "scale", "rs/web", "--replicas=5")
		waitReadyCount(t, c, "app=web", 5)
		c.MustKubectl(t, "scale", "rs/web", "--replicas=1")
		waitReadyCount(t, c, "app=web", 1)
		waitForEvent(t, c.Client, "default", "ReplicaSet", "web", "SuccessfulDelete: Deleted pod: web-")
	})
}

const rcYAML = `apiVersion: v1
kind: ReplicationController
metadata:
  name: legacy
spec:
  replicas: 2
  selector:
    app: legacy
  template:
    metadata:
      labels:
        app: legacy
    spec:
      containers:
      - name: app
        image: app:0.3.2
`

// TestReplicationController: the same controller serves core/v1 ReplicationControllers.
func TestReplicationController(t *testing.T) {
	c := startCluster(t, 0)
	ctx := context.Background()
	applyStdin(t, c, rcYAML)
	waitReadyCount(t, c, "app=legacy", 2)
	rc, err := c.Client.CoreV1().ReplicationControllers("default").Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range activePods(t, c.Client, "default", "app=legacy") {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.UID != rc.UID {
			t.Errorf("pod %s controller ref %+v", p.Name, ref)
		}
		if !regexp.MustCompile(`^legacy-[a-z0-9]{5}$`).MatchString(p.Name) {
			t.Errorf("pod name %s", p.Name)
		}
	}
	c.MustKubectl(t, "scale", "rc/legacy", "--replicas=4")
	waitReadyCount(t, c, "app=legacy", 4)
	framework.Eventually(t, waitTimeout, "rc status", func() bool {
		rc, _ = c.Client.CoreV1().ReplicationControllers("default").Get(ctx, "legacy", metav1.GetOptions{})
		s := rc.Status
		return s.ObservedGeneration == rc.Generation && s.Replicas == 4 && s.ReadyReplicas == 4 && s.AvailableReplicas == 4
	})
	waitForEvent(t, c.Client, "default", "ReplicationController", "legacy", "SuccessfulCreate: Created pod: legacy-")
	events, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=ReplicationController,involvedObject.name=legacy"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Source.Component != "replication-controller" {
			t.Errorf("event %s %q from %q, want from replication-controller (kube-controller-manager's name)", e.Reason, e.Message, e.Source.Component)
		}
	}
}

func readyPods(t *testing.T, c *framework.Cluster, selector string) []types.UID {
	t.Helper()
	var out []types.UID
	for _, p := range activePods(t, c.Client, "default", selector) {
		if ready(&p) {
			out = append(out, p.UID)
		}
	}
	return out
}

// waitReadyCount waits until exactly n active pods match selector, all ready.
func waitReadyCount(t *testing.T, c *framework.Cluster, selector string, n int) {
	t.Helper()
	framework.Eventually(t, waitTimeout, "ready pods", func() bool {
		return len(activePods(t, c.Client, "default", selector)) == n && len(readyPods(t, c, selector)) == n
	})
}
