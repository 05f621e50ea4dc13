package pods

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func testPod(policy corev1.RestartPolicy, inits []string, apps ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"}}
	p.Spec.RestartPolicy = policy
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox:1.35"})
	}
	for _, n := range apps {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "nginx:1.20.1"})
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	return p
}

func running(name string, restarts int) *containerInfo {
	return &containerInfo{id: name + "-id", name: name, sandboxID: "sb", restartCount: restarts,
		state: runtimeapi.ContainerState_CONTAINER_RUNNING, createdAt: t0, startedAt: t0, imageRef: "sha256:abc"}
}

func exited(name string, code int32, restarts int) *containerInfo {
	c := running(name, restarts)
	c.id = name + "-id-" + string(rune('0'+restarts))
	c.state, c.exitCode, c.finishedAt = runtimeapi.ContainerState_CONTAINER_EXITED, code, t0.Add(time.Second)
	return c
}

func ready(string, *containerInfo) ProbeResult { return ProbeResult{Ready: true, Started: true} }

func TestBuildStatus(t *testing.T) {
	sandbox := []*sandboxInfo{{id: "sb", ready: true, ips: []string{"10.42.0.5"}}}
	cases := []struct {
		name       string
		pod        *corev1.Pod
		containers []*containerInfo
		waiting    map[string]waitingInfo
		initDone   bool
		phase      corev1.PodPhase
		ready      corev1.ConditionStatus
		states     map[string]string // container → running/waiting:<reason>/terminated:<reason>
	}{
		{
			name: "both running", pod: testPod(corev1.RestartPolicyAlways, nil, "nginx", "app"),
			containers: []*containerInfo{running("nginx", 0), running("app", 0)}, initDone: true,
			phase: corev1.PodRunning, ready: corev1.ConditionTrue,
			states: map[string]string{"nginx": "running", "app": "running"},
		},
		{
			name: "one not created yet", pod: testPod(corev1.RestartPolicyAlways, nil, "nginx", "app"),
			containers: []*containerInfo{running("nginx", 0)}, initDone: true,
			phase: corev1.PodPending, ready: corev1.ConditionFalse,
			states: map[string]string{"nginx": "running", "app": "waiting:ContainerCreating"},
		},
		{
			name: "crash loop keeps Running", pod: testPod(corev1.RestartPolicyAlways, nil, "app"),
			containers: []*containerInfo{exited("app", 1, 2), exited("app", 1, 1)}, initDone: true,
			waiting: map[string]waitingInfo{"app": {reasonCrashLoop, "back-off"}},
			phase:   corev1.PodRunning, ready: corev1.ConditionFalse,
			states: map[string]string{"app": "waiting:CrashLoopBackOff"},
		},
		{
			name: "image pull error is Pending", pod: testPod(corev1.RestartPolicyAlways, nil, "app"),
			initDone: true, waiting: map[string]waitingInfo{"app": {reasonErrImagePull, "no"}},
			phase: corev1.PodPending, ready: corev1.ConditionFalse,
			states: map[string]string{"app": "waiting:ErrImagePull"},
		},
		{
			name: "all succeeded with OnFailure", pod: testPod(corev1.RestartPolicyOnFailure, nil, "a", "b"),
			containers: []*containerInfo{exited("a", 0, 0), exited("b", 0, 0)}, initDone: true,
			phase: corev1.PodSucceeded, ready: corev1.ConditionFalse,
			states: map[string]string{"a": "terminated:Completed", "b": "terminated:Completed"},
		},
		{
			name: "one failed with Never", pod: testPod(corev1.RestartPolicyNever, nil, "a", "b"),
			containers: []*containerInfo{exited("a", 0, 0), exited("b", 2, 0)}, initDone: true,
			phase: corev1.PodFailed, ready: corev1.ConditionFalse,
			states: map[string]string{"a": "terminated:Completed", "b": "terminated:Error"},
		},
		{
			name: "init running", pod: testPod(corev1.RestartPolicyAlways, []string{"i1", "i2"}, "app"),
			containers: []*containerInfo{running("i1", 0)},
			phase:      corev1.PodPending, ready: corev1.ConditionFalse,
			states: map[string]string{"i1": "running", "i2": "waiting:PodInitializing", "app": "waiting:PodInitializing"},
		},
		{
			name: "init failed with Never", pod: testPod(corev1.RestartPolicyNever, []string{"i1"}, "app"),
			containers: []*containerInfo{exited("i1", 1, 0)},
			phase:      corev1.PodFailed, ready: corev1.ConditionFalse,
			states: map[string]string{"i1": "terminated:Error", "app": "waiting:PodInitializing"},
		},
		{
			name: "OOM killed", pod: testPod(corev1.RestartPolicyNever, nil, "app"),
			containers: []*containerInfo{func() *containerInfo { c := exited("app", 137, 0); c.reason = "OOMKilled"; return c }()},
			initDone:   true, phase: corev1.PodFailed, ready: corev1.ConditionFalse,
			states: map[string]string{"app": "terminated:OOMKilled"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.waiting == nil {
				tc.waiting = map[string]waitingInfo{}
			}
			st := buildStatus(statusInput{
				pod: tc.pod, state: podState{sandboxes: sandbox, containers: tc.containers}, waiting: tc.waiting,
				probe:    func(string, *containerInfo) ProbeResult { return ProbeResult{Ready: true, Started: true} },
				initDone: tc.initDone, hostIPs: []string{"192.0.2.1"}, runtimeName: "containerd", now: t0,
			})
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			if got := condition(st, corev1.PodReady); got != tc.ready {
				t.Errorf("Ready %s, want %s", got, tc.ready)
			}
			if condition(st, corev1.PodScheduled) != corev1.ConditionTrue {
				t.Error("PodScheduled was dropped")
			}
			if st.PodIP != "10.42.0.5" || st.HostIP != "192.0.2.1" || st.StartTime == nil || st.QOSClass != corev1.PodQOSBestEffort {
				t.Errorf("podIP %q hostIP %q startTime %v qos %q", st.PodIP, st.HostIP, st.StartTime, st.QOSClass)
			}
			all := append(append([]corev1.ContainerStatus(nil), st.InitContainerStatuses...), st.ContainerStatuses...)
			for _, cs := range all {
				if got := stateString(cs.State); got != tc.states[cs.Name] {
					t.Errorf("container %s: %s, want %s", cs.Name, got, tc.states[cs.Name])
				}
				if cs.Image != "docker.io/library/nginx:1.20.1" && cs.Image != "docker.io/library/busybox:1.35" {
					t.Errorf("image %q not normalized", cs.Image)
				}
			}
		})
	}
}

func TestBuildStatusIsStable(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, nil, "app")
	in := statusInput{
		pod: pod, state: podState{sandboxes: []*sandboxInfo{{id: "sb", ready: true, ips: []string{"10.42.0.5"}}},
			containers: []*containerInfo{running("app", 1), exited("app", 1, 0)}},
		waiting: map[string]waitingInfo{}, probe: ready, initDone: true, runtimeName: "containerd", now: t0,
	}
	first := buildStatus(in)
	if first.ContainerStatuses[0].LastTerminationState.Terminated == nil || first.ContainerStatuses[0].RestartCount != 1 {
		t.Errorf("lastState/restartCount not reported: %+v", first.ContainerStatuses[0])
	}
	pod.Status = first
	in.now = t0.Add(time.Minute)
	second := buildStatus(in)
	if !equalStatus(first, second) {
		t.Errorf("status changed with time alone:\n%+v\n%+v", first, second)
	}
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting:" + s.Waiting.Reason
	case s.Terminated != nil:
		return "terminated:" + s.Terminated.Reason
	}
	return ""
}
