package workloads

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

const example = "foo-deployment-1"

// TestExampleDeployment: the 10-replica example comes up, scales with kubectl both ways,
// and replaces a deleted pod.
func TestExampleDeployment(t *testing.T) {
	c := startCluster(t, 0)
	c.MustKubectl(t, "apply", "-f", exampleFile(t, "03-deployment.yaml"))
	out := c.MustKubectl(t, "rollout", "status", "deployment/"+example, "--timeout=60s")
	if !strings.Contains(out, `deployment "foo-deployment-1" successfully rolled out`) {
		t.Fatalf("rollout status: %q", out)
	}
	d := waitRolledOut(t, c.Client, "default", example)
	if d.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Errorf("deployment revision annotation = %q, want 1", d.Annotations["deployment.kubernetes.io/revision"])
	}

	rss := replicaSetsOf(t, c.Client, "default", "app=foo")
	if len(rss) != 1 {
		t.Fatalf("want 1 ReplicaSet, got %d", len(rss))
	}
	rs := rss[0]
	hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if hash == "" || rs.Name != example+"-"+hash || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
		t.Errorf("ReplicaSet %s: labels %v selector %v; want <deployment>-<pod-template-hash>", rs.Name, rs.Labels, rs.Spec.Selector)
	}
	for k, want := range map[string]string{
		"deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/desired-replicas": "10",
		"deployment.kubernetes.io/max-replicas": "13",
	} {
		if got := rs.Annotations[k]; got != want {
			t.Errorf("ReplicaSet annotation %s = %q, want %q", k, got, want)
		}
	}
	ref := metav1.GetControllerOf(&rs)
	if ref == nil || ref.Kind != "Deployment" || ref.UID != d.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("ReplicaSet controller ref = %+v", ref)
	}
	podName := regexp.MustCompile("^" + regexp.QuoteMeta(rs.Name) + "-[a-z0-9]{5}$")
	// The example sets no spread constraints: the scheduler's default spreading of one
	// owner's pods puts the ten on the three nodes with a skew of at most one (4/3/3).
	perNode := map[string]int{"sim-0": 0, "sim-1": 0, "sim-2": 0}
	for _, p := range activePods(t, c.Client, "default", "app=foo") {
		perNode[p.Spec.NodeName]++
	}
	if lo, hi := minMax(perNode); len(perNode) != 3 || hi-lo > 1 {
		t.Errorf("pods per node %v: want the 3 nodes with a skew of at most 1", perNode)
	}
	for _, p := range activePods(t, c.Client, "default", "app=foo") {
		if !podName.MatchString(p.Name) || p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			t.Errorf("pod %s labels %v: want %s-<5 random> with the hash label", p.Name, p.Labels, rs.Name)
		}
		if r := metav1.GetControllerOf(&p); r == nil || r.UID != rs.UID || r.Kind != "ReplicaSet" {
			t.Errorf("pod %s controller ref = %+v", p.Name, r)
		}
	}
	waitForEvent(t, c.Client, "default", "Deployment", example, "ScalingReplicaSet: Scaled up replica set "+rs.Name+" from 0 to 10")
	waitForEvent(t, c.Client, "default", "ReplicaSet", rs.Name, "SuccessfulCreate: Created pod: "+rs.Name+"-")

	t.Run("scale down", func(t *testing.T) {
		c.MustKubectl(t, "scale", "deployment/"+example, "--replicas=4")
		waitRolledOut(t, c.Client, "default", example)
		waitForEvent(t, c.Client, "default", "Deployment", example, "Scaled down replica set "+rs.Name+" from 10 to 4")
		waitForEvent(t, c.Client, "default", "ReplicaSet", rs.Name, "SuccessfulDelete: Deleted pod: ")
	})
	t.Run("scale up", func(t *testing.T) {
		c.MustKubectl(t, "scale", "deployment/"+example, "--replicas=12")
		waitRolledOut(t, c.Client, "default", example)
		out := c.MustKubectl(t, "get", "deployment", example)
		if !regexp.MustCompile(`foo-deployment-1\s+12/12\s+12\s+12`).MatchString(out) {
			t.Errorf("kubectl get deployment:\n%s", out)
		}
	})
	t.Run("deleted pod is replaced", func(t *testing.T) {
		victim := activePods(t, c.Client, "default", "app=foo")[0].Name
		c.MustKubectl(t, "delete", "pod", victim)
		framework.Eventually(t, waitTimeout, "12 ready pods again", func() bool {
			pods := activePods(t, c.Client, "default", "app=foo")
			n := 0
			for _, p := range pods {
				if p.Name == victim {
					return false
				}
				if ready(&p) {
					n++
				}
			}
			return n == 12
		})
	})
}

// TestRollingUpdate: 0.3.2 → 0.3.3 with kubectl set image stays within maxSurge and
// maxUnavailable at every step seen by a watch; history lists both revisions; undo brings
// the old template back on the old ReplicaSet with the next revision number.
func TestRollingUpdate(t *testing.T) {
	c := startCluster(t, 50*time.Millisecond)
	c.MustKubectl(t, "apply", "-f", exampleFile(t, "03-deployment.yaml"))
	c.MustKubectl(t, "rollout", "status", "deployment/"+example, "--timeout=60s")
	waitRolledOut(t, c.Client, "default", example)
	firstRS := replicaSetsOf(t, c.Client, "default", "app=foo")[0]

	// Defaults: 25% of 10 → maxSurge 3 (rounded up), maxUnavailable 2 (rounded down).
	const replicas, surge, unavailable = 10, 3, 2
	pw := watchPods(t, c.Client, "default", "app")
	c.MustKubectl(t, "set", "image", "deployment/"+example, "app=app:0.3.3")
	out := c.MustKubectl(t, "rollout", "status", "deployment/"+example, "--timeout=60s")
	if !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status: %q", out)
	}
	d := waitRolledOut(t, c.Client, "default", example)
	maxActive, minReady, _, events := pw.finish()
	t.Logf("rolling update: %d pod events, at most %d pods, at least %d ready", events, maxActive, minReady)
	if maxActive > replicas+surge {
		t.Errorf("saw %d pods at once, want at most replicas+maxSurge = %d", maxActive, replicas+surge)
	}
	if minReady < replicas-unavailable {
		t.Errorf("saw only %d ready pods, want at least replicas-maxUnavailable = %d", minReady, replicas-unavailable)
	}
	for _, p := range activePods(t, c.Client, "default", "app=foo") {
		if img := containerImage(&p, "app"); img != "app:0.3.3" {
			t.Errorf("pod %s runs %s after the rollout", p.Name, img)
		}
	}
	if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "2" {
		t.Errorf("revision after update = %q, want 2", got)
	}
	if cond := condition(d, appsv1.DeploymentProgressing); cond == nil || cond.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing condition = %+v, want NewReplicaSetAvailable", cond)
	}
	if cond := condition(d, appsv1.DeploymentAvailable); cond == nil || cond.Reason != "MinimumReplicasAvailable" {
		t.Errorf("Available condition = %+v", cond)
	}

	history := c.MustKubectl(t, "rollout", "history", "deployment/"+example)
	if !regexp.MustCompile(`(?m)^1\s+<none>`).MatchString(history) || !regexp.MustCompile(`(?m)^2\s+<none>`).MatchString(history) {
		t.Errorf("rollout history:\n%s", history)
	}
	rev1 := c.MustKubectl(t, "rollout", "history", "deployment/"+example, "--revision=1")
	if !strings.Contains(rev1, "app:0.3.2") {
		t.Errorf("rollout history --revision=1 does not show the old image:\n%s", rev1)
	}

	t.Run("undo", func(t *testing.T) {
		out := c.MustKubectl(t, "rollout", "undo", "deployment/"+example)
		if !strings.Contains(out, "rolled back") {
			t.Errorf("rollout undo: %q", out)
		}
		c.MustKubectl(t, "rollout", "status", "deployment/"+example, "--timeout=60s")
		d := waitRolledOut(t, c.Client, "default", example)
		if img := d.Spec.Template.Spec.Containers[1].Image; img != "app:0.3.2" {
			t.Errorf("template image after undo = %s", img)
		}
		for _, p := range activePods(t, c.Client, "default", "app=foo") {
			if img := containerImage(&p, "app"); img != "app:0.3.2" {
				t.Errorf("pod %s runs %s after undo", p.Name, img)
			}
		}
		rss := replicaSetsOf(t, c.Client, "default", "app=foo")
		if len(rss) != 2 {
			t.Fatalf("want 2 ReplicaSets (the old one reused), got %d", len(rss))
		}
		for _, rs := range rss {
			if rs.Name == firstRS.Name {
				if rs.Annotations["deployment.kubernetes.io/revision"] != "3" || rs.Annotations["deployment.kubernetes.io/revision-history"] != "1" {
					t.Errorf("reused ReplicaSet annotations = %v, want revision 3, history 1", rs.Annotations)
				}
				if *rs.Spec.Replicas != 10 {
					t.Errorf("reused ReplicaSet has %d replicas", *rs.Spec.Replicas)
				}
			} else if *rs.Spec.Replicas != 0 {
				t.Errorf("ReplicaSet %s still has %d replicas", rs.Name, *rs.Spec.Replicas)
			}
		}
		if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "3" {
			t.Errorf("revision after undo = %q, want 3", got)
		}
		history := c.MustKubectl(t, "rollout", "history", "deployment/"+example)
		if regexp.MustCompile(`(?m)^1\s`).MatchString(history) || !regexp.MustCompile(`(?m)^3\s`).MatchString(history) {
			t.Errorf("rollout history after undo (want 2 and 3):\n%s", history)
		}
	})
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// deploymentYAML is a small Deployment of the app image with the given strategy block.
func deploymentYAML(name string, replicas int, image, extraSpec string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
%[4]s
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: app
        image: %[3]s
`, name, replicas, image, extraSpec)
}

// TestRecreate: old pods have all finished (terminating ones included) before any new one
// exists.
func TestRecreate(t *testing.T) {
	c := startCluster(t, 50*time.Millisecond)
	applyStdin(t, c, deploymentYAML("web", 6, "app:0.3.2", "  strategy:\n    type: Recreate"))
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	waitRolledOut(t, c.Client, "default", "web")

	pw := watchPods(t, c.Client, "default", "app")
	c.MustKubectl(t, "set", "image", "deployment/web", "app=app:0.3.3")
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	waitRolledOut(t, c.Client, "default", "web")
	maxActive, _, overlap, events := pw.finish()
	t.Logf("recreate: %d pod events, at most %d pods", events, maxActive)
	if overlap != "" {
		t.Errorf("old and new pods existed at once %s", overlap)
	}
	if maxActive > 6 {
		t.Errorf("saw %d pods at once, want at most 6", maxActive)
	}
	for _, p := range activePods(t, c.Client, "default", "app=web") {
		if img := containerImage(&p, "app"); img != "app:0.3.3" {
			t.Errorf("pod %s runs %s", p.Name, img)
		}
	}
}

// TestPauseResumeRestart: a paused Deployment takes template changes without rolling them
// out but still scales; resume rolls out; restart rolls out a new ReplicaSet.
func TestPauseResumeRestart(t *testing.T) {
	c := startCluster(t, 0)
	applyStdin(t, c, deploymentYAML("web", 3, "app:0.3.2", ""))
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")

	c.MustKubectl(t, "rollout", "pause", "deployment/web")
	c.MustKubectl(t, "set", "image", "deployment/web", "app=app:0.3.3")
	c.MustKubectl(t, "scale", "deployment/web", "--replicas=5")
	var d *appsv1.Deployment
	framework.Eventually(t, waitTimeout, "paused deployment observed and scaled", func() bool {
		d = getDeployment(t, c.Client, "default", "web")
		return d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == 5
	})
	if cond := condition(d, appsv1.DeploymentProgressing); cond == nil || cond.Reason != "DeploymentPaused" || cond.Status != "Unknown" {
		t.Errorf("Progressing condition while paused = %+v", cond)
	}
	if rss := replicaSetsOf(t, c.Client, "default", "app=web"); len(rss) != 1 {
		t.Errorf("paused deployment created a ReplicaSet: %d ReplicaSets", len(rss))
	}
	if d.Status.UpdatedReplicas != 0 {
		t.Errorf("paused: updatedReplicas = %d, want 0 (template not rolled out)", d.Status.UpdatedReplicas)
	}

	c.MustKubectl(t, "rollout", "resume", "deployment/web")
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	waitRolledOut(t, c.Client, "default", "web")
	for _, p := range activePods(t, c.Client, "default", "app=web") {
		if img := containerImage(&p, "app"); img != "app:0.3.3" {
			t.Errorf("pod %s runs %s after resume", p.Name, img)
		}
	}

	c.MustKubectl(t, "rollout", "restart", "deployment/web")
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	d = waitRolledOut(t, c.Client, "default", "web")
	if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Errorf("restart left no restartedAt annotation")
	}
	if rss := replicaSetsOf(t, c.Client, "default", "app=web"); len(rss) != 3 {
		t.Errorf("want 3 ReplicaSets after update and restart, got %d", len(rss))
	}
	if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "3" {
		t.Errorf("revision after restart = %q, want 3", got)
	}
}

// TestProgressDeadline: a rollout whose pods never become ready times out with
// ProgressDeadlineExceeded and kubectl rollout status says so; old pods stay.
func TestProgressDeadline(t *testing.T) {
	c := startCluster(t, 0)
	applyStdin(t, c, deploymentYAML("web", 4, "app:0.3.2", ""))
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")

	// The short deadline comes with the broken template, so a slow first rollout on a
	// loaded machine cannot trip it.
	// A readiness gate nobody sets keeps the new pods from ever becoming ready.
	c.MustKubectl(t, "patch", "deployment/web", "-p", `{"spec":{"progressDeadlineSeconds":2,"template":{"spec":{`+
		`"readinessGates":[{"conditionType":"example.com/never"}],"containers":[{"name":"app","image":"app:0.3.3"}]}}}}`)
	r := c.Kubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	if r.Err == nil || !strings.Contains(r.Stderr, `deployment "web" exceeded its progress deadline`) {
		t.Fatalf("rollout status: err %v\nstdout %s\nstderr %s", r.Err, r.Stdout, r.Stderr)
	}
	d := getDeployment(t, c.Client, "default", "web")
	if cond := condition(d, appsv1.DeploymentProgressing); cond == nil || cond.Reason != "ProgressDeadlineExceeded" || cond.Status != "False" {
		t.Errorf("Progressing = %+v", cond)
	}
	// maxUnavailable 1 of 4: three old pods keep serving.
	readyOld := 0
	for _, p := range activePods(t, c.Client, "default", "app=web") {
		if ready(&p) && containerImage(&p, "app") == "app:0.3.2" {
			readyOld++
		}
	}
	if readyOld < 3 {
		t.Errorf("%d ready old pods, want at least 3", readyOld)
	}
	if cond := condition(d, appsv1.DeploymentAvailable); cond == nil || cond.Status != "True" {
		t.Errorf("Available = %+v", cond)
	}
}

// TestDeleteDeployment: with --cascade=orphan the ReplicaSet and pods stay and a new
// Deployment with the same template adopts them without a new rollout; a plain delete
// removes them through the garbage collector.
func TestDeleteDeployment(t *testing.T) {
	c := startCluster(t, 0)
	manifest := deploymentYAML("web", 3, "app:0.3.2", "")
	applyStdin(t, c, manifest)
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	waitRolledOut(t, c.Client, "default", "web")
	before := map[string]bool{}
	for _, p := range activePods(t, c.Client, "default", "app=web") {
		before[string(p.UID)] = true
	}

	c.MustKubectl(t, "delete", "deployment", "web", "--cascade=orphan")
	framework.Eventually(t, waitTimeout, "ReplicaSet orphaned", func() bool {
		rss := replicaSetsOf(t, c.Client, "default", "app=web")
		return len(rss) == 1 && metav1.GetControllerOf(&rss[0]) == nil
	})

	applyStdin(t, c, manifest)
	d := waitRolledOut(t, c.Client, "default", "web")
	rss := replicaSetsOf(t, c.Client, "default", "app=web")
	if len(rss) != 1 {
		t.Fatalf("want the orphaned ReplicaSet adopted, got %d ReplicaSets", len(rss))
	}
	if ref := metav1.GetControllerOf(&rss[0]); ref == nil || ref.UID != d.UID {
		t.Errorf("ReplicaSet controller ref = %+v, want the new Deployment %s", ref, d.UID)
	}
	for _, p := range activePods(t, c.Client, "default", "app=web") {
		if !before[string(p.UID)] {
			t.Errorf("pod %s was recreated; adoption must keep the pods", p.Name)
		}
	}

	c.MustKubectl(t, "delete", "deployment", "web")
	framework.Eventually(t, waitTimeout, "ReplicaSets and pods deleted", func() bool {
		return len(replicaSetsOf(t, c.Client, "default", "app=web")) == 0 && len(activePods(t, c.Client, "default", "app=web")) == 0
	})
}

// TestMinReadySeconds: pods count as available only minReadySeconds after Ready, with no
// event to wake the controllers then.
func TestMinReadySeconds(t *testing.T) {
	c := startCluster(t, 0)
	start := time.Now()
	applyStdin(t, c, deploymentYAML("web", 3, "app:0.3.2", "  minReadySeconds: 2"))
	framework.Eventually(t, waitTimeout, "3 ready pods", func() bool {
		return len(readyPods(t, c, "app=web")) == 3
	})
	readyAt := time.Since(start)
	checkMinReady(t, c, getDeployment(t, c.Client, "default", "web"), time.Now(), 2*time.Second)
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	d := waitRolledOut(t, c.Client, "default", "web")
	t.Logf("ready after %v, rolled out after %v (from the apply)", readyAt, time.Since(start))
	checkMinReady(t, c, d, time.Now(), 2*time.Second)
	out := c.MustKubectl(t, "describe", "deployment", "web")
	if !strings.Contains(out, "MinReadySeconds:        2") || !strings.Contains(out, "ScalingReplicaSet") {
		t.Errorf("kubectl describe deployment:\n%s", out)
	}
}

// checkMinReady: the Deployment status d, read before observedAt, counts no pod as
// available that had not been Ready for minReady by then. Readiness is the pods' own
// Ready transition time, as the controllers judge it (the test's clock cannot say when
// the pods became ready: that may be before kubectl apply returns); it is kept to the
// second, so a pod may count as available up to a second less than minReady after it
// really became ready, never earlier than minReady after the stamp.
func checkMinReady(t *testing.T, c *framework.Cluster, d *appsv1.Deployment, observedAt time.Time, minReady time.Duration) {
	t.Helper()
	eligible := 0
	var stamps []string
	for _, p := range activePods(t, c.Client, "default", "app="+d.Name) {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				if cond.LastTransitionTime.Add(minReady).Before(observedAt) {
					eligible++
				}
				stamps = append(stamps, cond.LastTransitionTime.Format(time.RFC3339))
			}
		}
	}
	if d.Status.AvailableReplicas > int32(eligible) {
		t.Errorf("%d available replicas at %s, but only %d pods had been Ready for %s (Ready since %v)",
			d.Status.AvailableReplicas, observedAt.Format(time.RFC3339Nano), eligible, minReady, stamps)
	}
}

// minMax returns the smallest and largest count.
func minMax(counts map[string]int) (lo, hi int) {
	first := true
	for _, n := range counts {
		if first {
			lo, hi, first = n, n, false
		}
		lo, hi = min(lo, n), max(hi, n)
	}
	return lo, hi
}

// TestRevisionHistoryLimit: old ReplicaSets beyond revisionHistoryLimit are deleted, the
// oldest first, and kubectl rollout history lists only what is kept.
func TestRevisionHistoryLimit(t *testing.T) {
	c := startCluster(t, 0)
	applyStdin(t, c, deploymentYAML("web", 2, "app:1", "  revisionHistoryLimit: 1"))
	c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	for _, image := range []string{"app:2", "app:3", "app:4"} {
		c.MustKubectl(t, "set", "image", "deployment/web", "app="+image)
		c.MustKubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	}
	waitRolledOut(t, c.Client, "default", "web")
	var rss []appsv1.ReplicaSet
	framework.Eventually(t, waitTimeout, "old ReplicaSets beyond the limit deleted", func() bool {
		rss = replicaSetsOf(t, c.Client, "default", "app=web")
		return len(rss) == 2
	})
	revisions := map[string]string{}
	for _, rs := range rss {
		revisions[rs.Annotations["deployment.kubernetes.io/revision"]] = rs.Spec.Template.Spec.Containers[0].Image
	}
	if revisions["4"] != "app:4" || revisions["3"] != "app:3" {
		t.Errorf("kept ReplicaSets by revision %v, want 3 (app:3) and 4 (app:4)", revisions)
	}
	history := c.MustKubectl(t, "rollout", "history", "deployment/web")
	if regexp.MustCompile(`(?m)^[12]\s`).MatchString(history) || !regexp.MustCompile(`(?m)^3\s+<none>`).MatchString(history) ||
		!regexp.MustCompile(`(?m)^4\s+<none>`).MatchString(history) {
		t.Errorf("rollout history (want revisions 3 and 4 only):\n%s", history)
	}
}
