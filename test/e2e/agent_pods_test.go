package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/test/e2e/framework"
)

// busyboxPod is a one-container pod running sh -c script in busybox.
func busyboxPod(name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox:1.35", Command: []string{"sh", "-c", script},
			}},
		},
	}
}

func waitingReason(p *corev1.Pod, name string) string {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name == name && cs.State.Waiting != nil {
			return cs.State.Waiting.Reason
		}
	}
	return ""
}

func containerStatus(p *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

// exec runs a command in a container of the pod and returns its stdout (exit 0 required).
func exec(t *testing.T, c *framework.Cluster, pod *corev1.Pod, container string, cmd ...string) string {
	t.Helper()
	res, err := c.Node.CRI.ExecSync(context.Background(), containerID(t, pod, container), cmd, 10*time.Second)
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exec %v: exit %d: %s", cmd, res.ExitCode, res.Stderr)
	}
	return string(res.Stdout)
}

// Pods that go wrong end in the kubelet's waiting reasons, and the agent keeps going.
func TestAgentPodLifecycles(t *testing.T) {
	c := framework.StartCluster(t, framework.ClusterOptions{Images: []string{"busybox:1.35", "app:0.3.2", "app:0.3.3"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pods := c.Client.CoreV1().Pods("default")
	create := func(t *testing.T, p *corev1.Pod) {
		t.Helper()
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("crashing container backs off", func(t *testing.T) {
		create(t, busyboxPod("crasher", "echo dying; exit 3"))
		p := waitPod(t, c, "default", "crasher", time.Minute, "in CrashLoopBackOff after a restart", func(p *corev1.Pod) bool {
			cs := containerStatus(p, "main")
			return waitingReason(p, "main") == "CrashLoopBackOff" && cs.RestartCount >= 1
		})
		cs := containerStatus(p, "main")
		if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 3 || last.Reason != "Error" {
			t.Errorf("lastState %+v, want terminated with exit 3 (Error)", cs.LastTerminationState)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("phase %s, want Running (restartPolicy Always)", p.Status.Phase)
		}
		if msg := cs.State.Waiting.Message; !strings.Contains(msg, "back-off 10s restarting failed container=main") {
			t.Errorf("waiting message %q", msg)
		}
		// After the 10 s back-off it restarts again.
		waitPod(t, c, "default", "crasher", 40*time.Second, "restarted twice", func(p *corev1.Pod) bool {
			return containerStatus(p, "main").RestartCount >= 2
		})
		checkEvents(t, c, p, "BackOff", "Started")
	})

	t.Run("missing image is ErrImagePull then ImagePullBackOff", func(t *testing.T) {
		p := busyboxPod("no-image", "true")
		p.Spec.Containers[0].Image = "127.0.0.1:1/berth/missing:1.0"
		create(t, p)
		seen := map[string]bool{}
		got := waitPod(t, c, "default", "no-image", time.Minute, "ImagePullBackOff", func(p *corev1.Pod) bool {
			seen[waitingReason(p, "main")] = true
			return waitingReason(p, "main") == "ImagePullBackOff"
		})
		if !seen["ErrImagePull"] {
			t.Logf("ErrImagePull was not observed between polls (seen %v)", seen)
		}
		if got.Status.Phase != corev1.PodPending {
			t.Errorf("phase %s, want Pending", got.Status.Phase)
		}
		checkEvents(t, c, got, "Pulling", "Failed", "BackOff")
	})

	t.Run("image never pulled", func(t *testing.T) {
		p := busyboxPod("never", "true")
		p.Spec.Containers[0].Image = "berth/absent:1.0"
		p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
		create(t, p)
		waitPod(t, c, "default", "never", time.Minute, "ErrImageNeverPull", func(p *corev1.Pod) bool {
			return waitingReason(p, "main") == "ErrImageNeverPull"
		})
	})

	t.Run("bad command crash-loops", func(t *testing.T) {
		p := busyboxPod("bad-command", "")
		p.Spec.Containers[0].Command = []string{"/no/such/binary"}
		create(t, p)
		got := waitPod(t, c, "default", "bad-command", time.Minute, "RunContainerError or CrashLoopBackOff", func(p *corev1.Pod) bool {
			r := waitingReason(p, "main")
			return r == "RunContainerError" || r == "CrashLoopBackOff"
		})
		t.Logf("bad command: %s: %s", waitingReason(got, "main"), containerStatus(got, "main").State.Waiting.Message)
	})

	t.Run("missing configMap is CreateContainerConfigError", func(t *testing.T) {
		p := busyboxPod("no-config", "sleep 3600")
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"},
		}}}
		create(t, p)
		waitPod(t, c, "default", "no-config", time.Minute, "CreateContainerConfigError", func(p *corev1.Pod) bool {
			return waitingReason(p, "main") == "CreateContainerConfigError"
		})
		// Creating the configMap lets it start (after the back-off).
		if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "absent"}, Data: map[string]string{"k": "now-present"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitPod(t, c, "default", "no-config", time.Minute, "Running", runningAndReady)
		if out := exec(t, c, got, "main", "sh", "-c", "echo $X"); strings.TrimSpace(out) != "now-present" {
			t.Errorf("X=%q", out)
		}
	})

	t.Run("init containers run in order before the app", func(t *testing.T) {
		p := busyboxPod("with-init", "cat /work/order; sleep 3600")
		p.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
		p.Spec.Containers[0].VolumeMounts = mount
		for _, name := range []string{"first", "second", "third"} {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{
				Name: name, Image: "busybox:1.35", VolumeMounts: mount,
				Command: []string{"sh", "-c", "echo " + name + " >> /work/order"},
			})
		}
		create(t, p)
		got := waitPod(t, c, "default", "with-init", time.Minute, "Running", runningAndReady)
		if out := exec(t, c, got, "main", "cat", "/work/order"); out != "first\nsecond\nthird\n" {
			t.Errorf("init order %q", out)
		}
		var prevFinish time.Time
		for _, cs := range got.Status.InitContainerStatuses {
			term := cs.State.Terminated
			if term == nil || term.ExitCode != 0 || term.Reason != "Completed" || !cs.Ready {
				t.Errorf("init container %s: %+v", cs.Name, cs.State)
				continue
			}
			if term.StartedAt.Time.Before(prevFinish) {
				t.Errorf("init container %s started before the previous one finished", cs.Name)
			}
			prevFinish = term.FinishedAt.Time
		}
	})

	t.Run("failing init container with restartPolicy Never fails the pod", func(t *testing.T) {
		p := busyboxPod("init-fails", "sleep 3600")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1.35", Command: []string{"false"}}}
		create(t, p)
		got := waitPod(t, c, "default", "init-fails", time.Minute, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if cs := containerStatus(got, "main"); cs.State.Running != nil || cs.RestartCount != 0 {
			t.Errorf("app container ran: %+v", cs)
		}
	})

	t.Run("run to completion", func(t *testing.T) {
		p := busyboxPod("job-like", "echo done > /dev/termination-log")
		p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		create(t, p)
		got := waitPod(t, c, "default", "job-like", time.Minute, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		term := containerStatus(got, "main").State.Terminated
		if term == nil || term.Reason != "Completed" || strings.TrimSpace(term.Message) != "done" {
			t.Errorf("terminated %+v, want Completed with the termination message", term)
		}
	})

	t.Run("spec reaches the container", func(t *testing.T) {
		if _, err := c.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("s3cret")},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"MODE": "fast", "LEVEL": "3"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := busyboxPod("full-spec", "sleep 3600")
		p.Labels = map[string]string{"tier": "web"}
		p.Spec.Hostname = "custom-host"
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(2000))}
		main := &p.Spec.Containers[0]
		main.WorkingDir = "/tmp"
		main.Args = []string{"$(GREETING) ignored"}
		main.Command = []string{"sh", "-c", "sleep 3600", "--"}
		main.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		}
		main.SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
		main.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}, Prefix: "CFG_"}}
		main.Env = []corev1.EnvVar{
			{Name: "GREETING", Value: "hello"},
			{Name: "MESSAGE", Value: "$(GREETING) world"},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "TIER", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['tier']"}}},
			{Name: "MEM_LIMIT_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
		}
		create(t, p)
		got := waitPod(t, c, "default", "full-spec", time.Minute, "Running", runningAndReady)
		if got.Status.QOSClass != corev1.PodQOSBurstable {
			t.Errorf("qosClass %s", got.Status.QOSClass)
		}
		env := exec(t, c, got, "main", "env")
		for _, want := range []string{"GREETING=hello", "MESSAGE=hello world", "POD_NAME=full-spec", "POD_IP=" + got.Status.PodIP,
			"TIER=web", "MEM_LIMIT_MI=64", "PASSWORD=s3cret", "CFG_MODE=fast", "CFG_LEVEL=3",
			// The service environment: the API server's Service, whatever the namespace.
			"KUBERNETES_SERVICE_HOST=10.43.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_PORT=tcp://10.43.0.1:443"} {
			if !strings.Contains(env, want+"\n") {
				t.Errorf("env lacks %s:\n%s", want, env)
			}
		}
		for cmd, want := range map[string]string{
			"id -u; id -g": "1000\n2000\n",
			"pwd":          "/tmp\n",
			"hostname":     "custom-host\n",
			"cat /sys/fs/cgroup/memory/memory.limit_in_bytes":                   fmt.Sprint(64<<20) + "\n",
			"cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us":                           "50000\n",
			"cat /sys/fs/cgroup/cpu/cpu.shares":                                 "256\n",
			"touch /rootfs-write 2>/dev/null || echo read-only":                 "read-only\n",
			"grep -E '^(search|nameserver|options)' /etc/resolv.conf | head -3": "",
		} {
			out := exec(t, c, got, "main", "sh", "-c", cmd)
			if want != "" && out != want {
				t.Errorf("%s: %q, want %q", cmd, out, want)
			}
			if want == "" {
				if !strings.Contains(out, "nameserver 10.43.0.10") || !strings.Contains(out, "search default.svc.cluster.local svc.cluster.local cluster.local") || !strings.Contains(out, "ndots:5") {
					t.Errorf("resolv.conf: %q", out)
				}
			}
		}
	})

	t.Run("out of memory is OOMKilled", func(t *testing.T) {
		// tail keeps the whole newline-free stream in memory: far past the 16Mi limit.
		p := busyboxPod("oom", "exec tail /dev/zero")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}
		create(t, p)
		got := waitPod(t, c, "default", "oom", time.Minute, "terminated", func(p *corev1.Pod) bool {
			return containerStatus(p, "main").State.Terminated != nil
		})
		if term := containerStatus(got, "main").State.Terminated; term.Reason != "OOMKilled" {
			t.Errorf("terminated %+v, want reason OOMKilled", term)
		}
	})

	t.Run("a new image restarts that container only", func(t *testing.T) {
		p := busyboxPod("set-image", "sleep 3600")
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app", Image: "app:0.3.2"})
		create(t, p)
		before := waitPod(t, c, "default", "set-image", time.Minute, "Running", runningAndReady)
		// A label added by a user survives the status updates that follow (the agent's
		// status writes carry the metadata it read, without the spec).
		mustKubectl(t, c, nil, "", "label", "pod", "set-image", "tier=web")
		mustKubectl(t, c, nil, "", "set", "image", "pod/set-image", "app=app:0.3.3")
		got := waitPod(t, c, "default", "set-image", time.Minute, "running app:0.3.3", func(p *corev1.Pod) bool {
			cs := containerStatus(p, "app")
			return cs.Image == "docker.io/library/app:0.3.3" && cs.State.Running != nil && cs.Ready
		})
		if app := containerStatus(got, "app"); app.RestartCount != 1 || app.ContainerID == containerStatus(before, "app").ContainerID {
			t.Errorf("app: restartCount %d, container %s (was %s), want one restart into a new container",
				app.RestartCount, app.ContainerID, containerStatus(before, "app").ContainerID)
		}
		if main := containerStatus(got, "main"); main.RestartCount != 0 || main.ContainerID != containerStatus(before, "main").ContainerID {
			t.Errorf("main was restarted too: restartCount %d, container %s (was %s)",
				main.RestartCount, main.ContainerID, containerStatus(before, "main").ContainerID)
		}
		if got.Labels["tier"] != "web" {
			t.Errorf("labels %v: the user's tier=web is gone", got.Labels)
		}
		checkEvents(t, c, got, "Killing")
		events, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(got.UID) + ",reason=Killing"})
		if err != nil {
			t.Fatal(err)
		}
		if len(events.Items) == 0 || events.Items[0].Message != "Container app definition changed, will be restarted" {
			t.Errorf("Killing events %+v, want the kubelet's \"Container app definition changed, will be restarted\"", events.Items)
		}
		if out := exec(t, c, got, "main", "wget", "-qO-", "http://127.0.0.1:8080/"); !strings.Contains(out, "0.3.3") {
			t.Errorf("the restarted app answers %q, want version 0.3.3", out)
		}
	})

	t.Run("imagePullSecrets authenticate the pull", func(t *testing.T) {
		reg := framework.StartRegistry(t, c.Node, "berth", "s3cret")
		image := reg.Push(t, "team/app", "0.3.3", framework.Image(t, "app:0.3.3").Image)
		auth := base64.StdEncoding.EncodeToString([]byte("berth:s3cret"))
		if _, err := c.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + reg.Host + `":{"auth":"` + auth + `"}}}`)},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		anonymous := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pull-anonymous", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
		create(t, anonymous)
		// The anonymous pull fails before the image is on the node: once the pod with the
		// secret has pulled it, the anonymous pod's next try (IfNotPresent, as a kubelet
		// without KEP-2535's verification) finds it present and runs.
		waitPod(t, c, "default", "pull-anonymous", time.Minute, "ErrImagePull", func(p *corev1.Pod) bool {
			r := waitingReason(p, "app")
			return r == "ErrImagePull" || r == "ImagePullBackOff"
		})
		withSecret := anonymous.DeepCopy()
		withSecret.Name = "pull-with-secret"
		withSecret.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		create(t, withSecret)
		got := waitPod(t, c, "default", "pull-with-secret", time.Minute, "Running", runningAndReady)
		if id := containerStatus(got, "app").ImageID; id == "" {
			t.Error("no imageID")
		}
		checkEvents(t, c, got, "Pulling", "Pulled")
	})

	// The agent is still healthy: a plain pod still starts.
	create(t, busyboxPod("still-fine", "sleep 3600"))
	waitPod(t, c, "default", "still-fine", time.Minute, "Running", runningAndReady)
}
