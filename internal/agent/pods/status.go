package pods

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// waitingInfo is why a container that does not run waits (image pull errors, config
// errors, crash-loop back-off); the sync records it, the status shows it.
type waitingInfo struct{ reason, message string }

// statusInput is everything one pod status is built from.
type statusInput struct {
	pod     *corev1.Pod
	state   podState
	waiting map[string]waitingInfo
	// probe returns the prober's view of a running container.
	probe func(name string, c *containerInfo) ProbeResult
	// initDone: every init container succeeded in the current sandbox (or app
	// containers already run there).
	initDone      bool
	hostIPs       []string
	runtimeName   string // container ID scheme, "containerd"
	now           time.Time
	readTermLog   func(path string) string
	sandboxFailed bool // the last sandbox creation failed
	// terminating: the pod is being deleted and its containers were stopped; the phase
	// becomes terminal whatever the restart policy (as the kubelet reports it).
	terminating bool
}

// buildStatus computes the pod's status as the kubelet would post it, keeping the fields
// the agent does not own (nominatedNodeName, resize, ...) and transition times of
// conditions that did not change.
func buildStatus(in statusInput) corev1.PodStatus {
	pod := in.pod
	status := *pod.Status.DeepCopy()
	sb := in.state.current()
	currentID := ""
	if sb != nil {
		currentID = sb.id
	}

	status.InitContainerStatuses = nil
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		// A sidecar reports started/ready from its probes, as an app container does.
		status.InitContainerStatuses = append(status.InitContainerStatuses, in.containerStatus(c, "PodInitializing", currentID, !isSidecar(c)))
	}
	status.ContainerStatuses = nil
	appWaiting := "ContainerCreating"
	if !in.initDone {
		appWaiting = "PodInitializing"
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		status.ContainerStatuses = append(status.ContainerStatuses, in.containerStatus(c, appWaiting, currentID, false))
	}

	if sb != nil && sb.ready {
		status.PodIP, status.PodIPs = "", nil
		for i, ip := range sb.ips {
			if i == 0 {
				status.PodIP = ip
			}
			status.PodIPs = append(status.PodIPs, corev1.PodIP{IP: ip})
		}
		if pod.Spec.HostNetwork && len(in.hostIPs) > 0 {
			status.PodIP = in.hostIPs[0]
			status.PodIPs = nil
			for _, ip := range in.hostIPs {
				status.PodIPs = append(status.PodIPs, corev1.PodIP{IP: ip})
			}
		}
	}
	if len(in.hostIPs) > 0 {
		status.HostIP = in.hostIPs[0]
		status.HostIPs = nil
		for _, ip := range in.hostIPs {
			status.HostIPs = append(status.HostIPs, corev1.HostIP{IP: ip})
		}
	}
	if status.StartTime == nil {
		status.StartTime = ptr.To(seconds(in.now))
	}
	if status.QOSClass == "" {
		status.QOSClass = podQOS(pod)
	}
	status.Phase = podPhase(pod, status, in.initDone, in.terminating)
	status.Conditions = podConditions(pod, status, sb != nil && sb.ready, in.initDone, seconds(in.now))
	if status.Phase == corev1.PodFailed || status.Phase == corev1.PodSucceeded {
		// Terminated containers are never ready.
		for i := range status.ContainerStatuses {
			status.ContainerStatuses[i].Ready = false
		}
		for i := range status.InitContainerStatuses {
			if isSidecar(&pod.Spec.InitContainers[i]) {
				status.InitContainerStatuses[i].Ready = false
			}
		}
	}
	return status
}

// containerStatus reports one container of the spec from its instances in the runtime.
func (in statusInput) containerStatus(c *corev1.Container, defaultReason, currentSandbox string, init bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: normalizedImage(c.Image), Started: ptr.To(false)}
	instances := in.state.instances(c.Name, "")
	waiting, hasWaiting := in.waiting[c.Name]
	if len(instances) == 0 {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: defaultReason}
		if hasWaiting {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting.reason, Message: waiting.message}
		}
		return cs
	}
	latest := instances[0]
	cs.RestartCount = int32(latest.restartCount)
	cs.ContainerID = in.runtimeName + "://" + latest.id
	cs.ImageID = latest.imageRef
	var previous *containerInfo
	if len(instances) > 1 {
		previous = instances[1]
	}
	switch {
	case latest.running() && latest.sandboxID == currentSandbox:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: seconds(latest.startedAt)}
		if init {
			cs.Ready = false
			break
		}
		res := in.probe(c.Name, latest)
		cs.Started, cs.Ready = ptr.To(res.Started), res.Ready && res.Started
	case latest.exited() || latest.running():
		// A running container of an old sandbox is about to be killed: it counts as
		// terminated.
		term := in.terminated(latest)
		if hasWaiting {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting.reason, Message: waiting.message}
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
		}
		if init && latest.exitCode == 0 && latest.exited() {
			cs.Ready = true
		}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		if hasWaiting {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting.reason, Message: waiting.message}
		}
	}
	if cs.LastTerminationState.Terminated == nil && previous != nil && previous.exited() {
		cs.LastTerminationState.Terminated = in.terminated(previous)
	}
	return cs
}

func (in statusInput) terminated(c *containerInfo) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode: c.exitCode, Reason: c.reason, Message: c.message,
		StartedAt: seconds(c.startedAt), FinishedAt: seconds(c.finishedAt),
		ContainerID: in.runtimeName + "://" + c.id,
	}
	if c.running() {
		t.ExitCode, t.Reason, t.FinishedAt = 137, "Error", seconds(in.now)
	}
	if t.Reason == "" {
		t.Reason = "Completed"
		if t.ExitCode != 0 {
			t.Reason = "Error"
		}
	}
	if t.Message == "" && c.termLogFile != "" && in.readTermLog != nil {
		t.Message = in.readTermLog(c.termLogFile)
	}
	return t
}

// readTerminationLog reads at most 4 KiB of a container's termination message file.
func readTerminationLog(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := f.Read(buf)
	return string(buf[:n])
}

// normalizedImage is the image name as the runtime reports it
// ("nginx:1.20.1" → "docker.io/library/nginx:1.20.1").
func normalizedImage(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.TagNameOnly(named).String()
}

// seconds is t as the API stores it (RFC 3339 seconds), so a recomputed status equals
// the stored one.
func seconds(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.Unix(t.Unix(), 0)
}

// podPhase follows the kubelet's getPhase.
func podPhase(pod *corev1.Pod, status corev1.PodStatus, initDone, terminating bool) corev1.PodPhase {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return pod.Status.Phase // terminal phases never change
	}
	policy := pod.Spec.RestartPolicy
	if terminating {
		policy = corev1.RestartPolicyNever
	}
	if !initDone {
		for i, cs := range status.InitContainerStatuses {
			// A sidecar that exits is restarted: it does not fail the pod.
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && policy == corev1.RestartPolicyNever &&
				!isSidecar(&pod.Spec.InitContainers[i]) {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range status.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case policy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// podConditions computes the kubelet's conditions and keeps others' (PodScheduled,
// readiness gates' own types).
func podConditions(pod *corev1.Pod, status corev1.PodStatus, sandboxReady, initDone bool, now metav1.Time) []corev1.PodCondition {
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		if ok {
			return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		}
		return corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
	}
	terminal := status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed

	var initPending, unready []string
	for i, cs := range status.InitContainerStatuses {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			// A sidecar has done its init part once it runs and started; it counts
			// for readiness like an app container.
			if cs.State.Running == nil || cs.Started == nil || !*cs.Started {
				initPending = append(initPending, cs.Name)
			}
			if !cs.Ready {
				unready = append(unready, cs.Name)
			}
			continue
		}
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			initPending = append(initPending, cs.Name)
		}
	}
	initialized := initDone || len(initPending) == 0
	for _, cs := range status.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	containersReady := len(unready) == 0 && !terminal
	notReadyMsg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	reason := "ContainersNotReady"
	if terminal {
		reason = "PodCompleted"
		if status.Phase == corev1.PodFailed {
			reason = "PodFailed"
		}
		notReadyMsg = ""
	}
	readyCond := cond(corev1.PodReady, containersReady, reason, notReadyMsg)
	if containersReady {
		var gates []string
		for _, g := range pod.Spec.ReadinessGates {
			ok := false
			for _, c := range status.Conditions {
				if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
					ok = true
				}
			}
			if !ok {
				gates = append(gates, string(g.ConditionType))
			}
		}
		if len(gates) > 0 {
			readyCond = cond(corev1.PodReady, false, "ReadinessGatesNotReady",
				fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gates[0]))
		}
	}
	initReason, initMsg := "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(initPending, " "))
	if terminal && !initialized {
		initReason = "PodCompleted"
	}
	want := []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady && !terminal, "", ""),
		cond(corev1.PodInitialized, initialized, initReason, initMsg),
		readyCond,
		cond(corev1.ContainersReady, containersReady, reason, notReadyMsg),
	}
	out := make([]corev1.PodCondition, 0, len(status.Conditions)+len(want))
	ours := map[corev1.PodConditionType]bool{}
	for _, c := range want {
		ours[c.Type] = true
	}
	// Keep the order the pod already has (the API shows them as stored), ours first
	// when new.
	for _, c := range status.Conditions {
		if !ours[c.Type] {
			out = append(out, c)
		}
	}
	for _, c := range want {
		c.LastTransitionTime = now
		for _, old := range status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
				c.LastProbeTime = old.LastProbeTime
			}
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return conditionOrder(out[i].Type) < conditionOrder(out[j].Type) })
	return out
}

// conditionOrder lists conditions as kubectl shows a kubelet-managed pod's.
func conditionOrder(t corev1.PodConditionType) int {
	switch t {
	case corev1.PodReadyToStartContainers:
		return 0
	case corev1.PodInitialized:
		return 1
	case corev1.PodReady:
		return 2
	case corev1.ContainersReady:
		return 3
	case corev1.PodScheduled:
		return 4
	}
	return 5
}
