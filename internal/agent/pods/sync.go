package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/cri"
)

// sync brings one pod (by UID) where its spec and the API say it should be: running,
// finished, terminating or gone. It is idempotent and reads the runtime afresh, so any
// event — informer, relist, timer — may trigger it. It returns when to look again.
func (l *Loop) sync(ctx context.Context, uid string) (time.Duration, error) {
	pod := l.podByUID(uid)
	rec := l.record(uid)
	if pod != nil {
		rec.lastPod = pod
	}
	state, err := l.observe(ctx, uid)
	if err != nil {
		return 0, err
	}
	switch {
	case pod == nil:
		return 0, l.removeOrphan(ctx, uid, state)
	case pod.DeletionTimestamp != nil:
		return 0, l.terminate(ctx, pod, rec, state)
	case isTerminal(pod.Status.Phase):
		return 0, l.finish(ctx, pod, state)
	}
	return l.syncRunning(ctx, pod, rec, state)
}

func isTerminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// syncRunning runs the pod: its directories, cgroup and volumes, a ready sandbox, the
// init containers one after another, then the app containers with their restart policy;
// then it posts the status.
func (l *Loop) syncRunning(ctx context.Context, pod *corev1.Pod, rec *podRecord, state podState) (time.Duration, error) {
	uid := string(pod.UID)
	t0 := time.Now()
	if err := os.MkdirAll(l.logDir(uid), 0o755); err != nil {
		return 0, err
	}
	if err := l.cgroups.Ensure(uid, func() PodLimits { return podLimits(pod) }); err != nil {
		return 0, err
	}
	volumePaths, err := l.volumes.Setup(ctx, pod)
	if err != nil {
		l.event(pod, corev1.EventTypeWarning, "FailedMount", fmt.Sprintf("Unable to attach or mount volumes for pod %s: %v", pod.Name, err))
		if werr := l.writeStatus(ctx, pod, rec, state, false); werr != nil {
			l.log.Debug("write status", "pod", podKey(pod), "err", werr)
		}
		return 0, fmt.Errorf("set up volumes: %w", err)
	}

	t1 := time.Now()
	sb := state.current()
	var sbConfig *runtimeapi.PodSandboxConfig
	acted := false
	if sb == nil || !sb.ready {
		if sb, sbConfig, state, err = l.newSandbox(ctx, pod, rec, state); err != nil {
			return 0, err
		}
		acted = true
	} else if sbConfig, err = l.sandboxConfig(pod, sb.attempt); err != nil {
		return 0, err
	}

	t2 := time.Now()
	run := podRun{l: l, ctx: ctx, pod: pod, rec: rec, state: state, sandbox: sb, sandboxConfig: sbConfig, volumePaths: volumePaths}
	initDone := run.syncInit()
	if initDone {
		run.syncApps()
	}
	t3 := time.Now()
	if run.acted || acted {
		if state, err = l.observe(ctx, uid); err != nil {
			return 0, err
		}
	}
	t4 := time.Now()
	l.updateProber(pod, state)
	status, err := l.postStatus(ctx, pod, rec, state, initDone, false)
	if err != nil {
		return 0, err
	}
	if run.acted || acted {
		// Where a start's time goes (bench/podstartup reads these with -agent-log-level debug).
		l.log.Debug("pod synced", "pod", podKey(pod), "phase", status.Phase, "setup", t1.Sub(t0), "sandbox", t2.Sub(t1),
			"containers", t3.Sub(t2), "observe", t4.Sub(t3), "status", time.Since(t4))
	}
	if isTerminal(status.Phase) {
		done := pod.DeepCopy()
		done.Status = status
		return 0, l.finish(ctx, done, state)
	}
	l.collectGarbage(ctx, state)
	return run.requeue, run.err
}

// newSandbox replaces a missing or dead sandbox: containers of the dead one are stopped,
// the new one gets the next attempt number.
func (l *Loop) newSandbox(ctx context.Context, pod *corev1.Pod, rec *podRecord, state podState) (*sandboxInfo, *runtimeapi.PodSandboxConfig, podState, error) {
	attempt := uint32(0)
	if old := state.current(); old != nil {
		attempt = old.attempt + 1
		l.event(pod, corev1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		if err := l.killPod(ctx, pod, state, gracePeriod(pod)); err != nil {
			return nil, nil, state, err
		}
	}
	cfg, err := l.sandboxConfig(pod, attempt)
	if err != nil {
		return nil, nil, state, err
	}
	id, err := l.runtime.RunPodSandbox(ctx, cfg, "")
	if err != nil {
		rec.sandboxFailed = true
		l.event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: "+err.Error())
		if werr := l.writeStatus(ctx, pod, rec, state, false); werr != nil {
			l.log.Debug("write status", "pod", podKey(pod), "err", werr)
		}
		return nil, nil, state, err
	}
	rec.sandboxFailed = false
	// The new sandbox is the pod's newest: its status is all that changed (no list of
	// the pod's objects again).
	sb, err := l.sandboxInfo(ctx, id)
	if err != nil {
		return nil, nil, state, err
	}
	if !sb.ready {
		return nil, nil, state, fmt.Errorf("new sandbox %s is not ready", id)
	}
	state.sandboxes = append([]*sandboxInfo{sb}, state.sandboxes...)
	return sb, cfg, state, nil
}

// podRun is one sync's work on the containers of a running pod.
type podRun struct {
	l             *Loop
	ctx           context.Context
	pod           *corev1.Pod
	rec           *podRecord
	state         podState
	sandbox       *sandboxInfo
	sandboxConfig *runtimeapi.PodSandboxConfig
	volumePaths   map[string]string
	// mu guards what container starts running at once write: acted (something changed
	// in the runtime), requeue (when to look again), err (a failure to retry with the
	// queue's back-off) and rec.waiting.
	mu      sync.Mutex
	acted   bool
	requeue time.Duration
	err     error
}

func (r *podRun) again(after time.Duration) {
	after = max(after, 10*time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.requeue == 0 || after < r.requeue {
		r.requeue = after
	}
}

func (r *podRun) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *podRun) changed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acted = true
}

// setWaiting records why the container waits; a zero info clears it.
func (r *podRun) setWaiting(name string, info waitingInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if info == (waitingInfo{}) {
		delete(r.rec.waiting, name)
		return
	}
	r.rec.waiting[name] = info
}

func (r *podRun) waitingReason(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.waiting[name].reason
}

// syncInit runs the init containers in order, one at a time; it reports whether all of
// them are done in the current sandbox (or app containers already run there). A sidecar
// (an init container with restartPolicy Always) is done once it has started (its
// startup probe passed) and is kept running for the pod's life, restarted whenever it
// exits, whatever the pod's restart policy.
func (r *podRun) syncInit() bool {
	appsStarted := false
	for i := range r.pod.Spec.Containers {
		if len(r.state.instances(r.pod.Spec.Containers[i].Name, r.sandbox.id)) > 0 {
			appsStarted = true
			break
		}
	}
	if hasSidecars(r.pod) {
		// Startup results of sidecars that run now decide whether init goes on.
		r.l.updateProber(r.pod, r.state)
	}
	for i := range r.pod.Spec.InitContainers {
		c := &r.pod.Spec.InitContainers[i]
		if isSidecar(c) {
			if !r.syncSidecar(c) && !appsStarted {
				return false
			}
			continue
		}
		if appsStarted {
			continue
		}
		inst := r.state.instances(c.Name, r.sandbox.id)
		if len(inst) == 0 {
			r.start(c, true)
			return false
		}
		latest := inst[0]
		switch {
		case latest.exited() && latest.exitCode == 0:
			continue
		case latest.exited():
			if r.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return false // the pod failed; its phase says so
			}
			r.restartAfterCrash(c, latest, true)
		case latest.state == runtimeapi.ContainerState_CONTAINER_CREATED:
			r.startCreated(c, latest)
		}
		return false
	}
	return true
}

// syncSidecar keeps a sidecar running and reports whether it runs and has started.
func (r *podRun) syncSidecar(c *corev1.Container) bool {
	inst := r.state.instances(c.Name, r.sandbox.id)
	if len(inst) == 0 {
		r.start(c, true)
		return false
	}
	latest := inst[0]
	switch {
	case latest.running():
		if r.restartIfChanged(c, latest) {
			return false
		}
		return r.l.prober.Result(r.pod.UID, c.Name, runningOf(latest)).Started
	case latest.exited():
		r.restartAfterCrash(c, latest, true)
	case latest.state == runtimeapi.ContainerState_CONTAINER_CREATED:
		r.startCreated(c, latest)
	}
	return false
}

// restartIfChanged stops a running container whose spec changed or whose liveness
// failed (the next sync starts it again); it reports whether it did.
func (r *podRun) restartIfChanged(c *corev1.Container, latest *containerInfo) bool {
	reason := ""
	if specChanged(c, latest.hash) {
		reason = fmt.Sprintf("Container %s definition changed, will be restarted", c.Name)
	} else if res := r.l.prober.Result(r.pod.UID, c.Name, runningOf(latest)); res.LivenessFailed {
		reason = fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.Name)
		if res.Message != "" {
			reason = res.Message
		}
	}
	if reason == "" {
		return false
	}
	r.l.event(r.pod, corev1.EventTypeNormal, "Killing", reason)
	if err := r.l.stopContainer(r.ctx, r.pod, c, latest.id, gracePeriod(r.pod)); err != nil {
		r.fail(err)
	}
	r.changed()
	r.again(0)
	return true
}

// syncApps starts app containers that do not run and should, restarts those whose spec
// changed or whose liveness failed, and applies the restart policy to exited ones.
//
// The containers it starts are started at once (images checked, created and started
// side by side, as the runtime serves several callers), not one after the other as the
// kubelet does — unless one has a postStart hook: the kubelet's order then holds the
// next containers until the hook returned, and some pods rely on that (a proxy that
// must be up before the app).
func (r *podRun) syncApps() {
	sequential := false
	for i := range r.pod.Spec.Containers {
		if lc := r.pod.Spec.Containers[i].Lifecycle; lc != nil && lc.PostStart != nil {
			sequential = true
		}
	}
	var starts sync.WaitGroup
	defer starts.Wait()
	do := func(start func()) {
		if sequential {
			start()
			return
		}
		starts.Add(1)
		go func() {
			defer starts.Done()
			start()
		}()
	}
	for i := range r.pod.Spec.Containers {
		c := &r.pod.Spec.Containers[i]
		inst := r.state.instances(c.Name, r.sandbox.id)
		if len(inst) == 0 {
			do(func() { r.start(c, false) })
			continue
		}
		latest := inst[0]
		switch {
		case latest.running():
			r.restartIfChanged(c, latest)
		case latest.exited():
			if shouldRestart(r.pod.Spec.RestartPolicy, latest.exitCode) {
				do(func() { r.restartAfterCrash(c, latest, false) })
			}
		case latest.state == runtimeapi.ContainerState_CONTAINER_CREATED:
			do(func() { r.startCreated(c, latest) })
		}
	}
}

// isSidecar says whether c is a sidecar: an init container with restartPolicy Always.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func hasSidecars(pod *corev1.Pod) bool {
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			return true
		}
	}
	return false
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// restartAfterCrash starts an exited container again unless it is in crash-loop
// back-off (10 s doubling to 5 min, measured from its exit; forgotten after it ran
// twice the maximum).
func (r *podRun) restartAfterCrash(c *corev1.Container, latest *containerInfo, init bool) {
	key := string(r.pod.UID) + "/" + c.Name
	backoff := r.l.crashBackoff
	if backoff.IsInBackOffSince(key, latest.finishedAt) {
		delay := backoff.Get(key)
		if r.waitingReason(c.Name) != reasonCrashLoop {
			r.l.event(r.pod, corev1.EventTypeWarning, "BackOff",
				fmt.Sprintf("Back-off restarting failed container %s in pod %s", c.Name, podDescription(r.pod)))
		}
		r.setWaiting(c.Name, waitingInfo{reasonCrashLoop,
			fmt.Sprintf("back-off %v restarting failed container=%s pod=%s", delay, c.Name, podDescription(r.pod))})
		r.again(delay - r.l.clock.Since(latest.finishedAt))
		return
	}
	backoff.Next(key, r.l.clock.Now())
	r.start(c, init)
}

const reasonCrashLoop = "CrashLoopBackOff"

func podDescription(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// startCreated starts a container that was created but never started (an agent that
// stopped in between).
func (r *podRun) startCreated(c *corev1.Container, latest *containerInfo) {
	r.changed()
	if err := r.l.runtime.StartContainer(r.ctx, latest.id); err != nil {
		r.setWaiting(c.Name, waitingInfo{"RunContainerError", err.Error()})
		r.l.event(r.pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return
	}
	r.setWaiting(c.Name, waitingInfo{})
	r.l.event(r.pod, corev1.EventTypeNormal, "Started", "Started container "+c.Name)
}

// start pulls the image and creates and starts a new instance of the container. Failures
// become the container's waiting reason and a retry time.
func (r *podRun) start(c *corev1.Container, init bool) {
	l, pod := r.l, r.pod
	key := string(pod.UID) + "/" + c.Name
	if wait := l.createGate.wait(key); wait > 0 {
		r.again(wait)
		return
	}
	restartCount := 0
	if prev := r.state.instances(c.Name, ""); len(prev) > 0 {
		restartCount = prev[0].restartCount + 1
	}
	image, err := l.ensureImage(r.ctx, pod, c, r.sandboxConfig)
	if err != nil {
		var w *waitingError
		if errors.As(err, &w) {
			r.setWaiting(c.Name, waitingInfo{w.reason, w.message})
			r.again(l.pullGate.wait(string(pod.UID) + "/" + c.Image))
			if w.reason == reasonInvalidImageName || w.reason == reasonErrImageNeverPull {
				r.again(l.createGate.fail(key))
			}
			return
		}
		r.fail(err)
		return
	}
	cfg, err := l.containerConfig(r.ctx, startInput{
		pod: pod, container: c, init: init, restartCount: restartCount, image: image,
		sandbox: r.sandbox, volumePaths: r.volumePaths,
	})
	if err != nil {
		var ce configError
		if !errors.As(err, &ce) {
			r.fail(err)
			return
		}
		r.setWaiting(c.Name, waitingInfo{"CreateContainerConfigError", err.Error()})
		l.event(pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		r.again(l.createGate.fail(key))
		return
	}
	id, err := l.runtime.CreateContainer(r.ctx, r.sandbox.id, cfg, r.sandboxConfig)
	if err != nil {
		msg := createErrorMessage(err)
		r.setWaiting(c.Name, waitingInfo{"CreateContainerError", msg})
		l.event(pod, corev1.EventTypeWarning, "Failed", "Error: "+msg)
		r.again(l.createGate.fail(key))
		return
	}
	l.createGate.forget(key)
	r.changed()
	l.event(pod, corev1.EventTypeNormal, "Created", "Created container: "+c.Name)
	if err := l.runtime.StartContainer(r.ctx, id); err != nil {
		// The container is left exited (exit 128, StartError): the restart policy and
		// crash-loop back-off apply to it like to any crash.
		msg := createErrorMessage(err)
		r.setWaiting(c.Name, waitingInfo{"RunContainerError", msg})
		l.event(pod, corev1.EventTypeWarning, "Failed", "Error: "+msg)
		r.again(0)
		return
	}
	r.setWaiting(c.Name, waitingInfo{})
	l.event(pod, corev1.EventTypeNormal, "Started", "Started container "+c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if err := l.hooks.PostStart(r.ctx, pod, c, id); err != nil {
			l.event(pod, corev1.EventTypeWarning, "FailedPostStartHook", err.Error())
			_ = l.stopContainer(r.ctx, pod, c, id, gracePeriod(pod))
		}
	}
}

// createErrorMessage is the runtime's message without our call wrapping.
func createErrorMessage(err error) string {
	var ce *cri.Error
	if errors.As(err, &ce) {
		if s, ok := status.FromError(ce.Err); ok {
			return s.Message()
		}
	}
	return err.Error()
}

func runningOf(c *containerInfo) RunningContainer {
	return RunningContainer{ID: c.id, Name: c.name, StartedAt: c.startedAt, Attempt: uint32(c.restartCount)}
}

// updateProber tells the prober which app containers and sidecars run in the current
// sandbox.
func (l *Loop) updateProber(pod *corev1.Pod, state podState) {
	running := map[string]RunningContainer{}
	if sb := state.current(); sb != nil {
		add := func(c *corev1.Container) {
			if inst := state.instances(c.Name, sb.id); len(inst) > 0 && inst[0].running() {
				running[c.Name] = runningOf(inst[0])
			}
		}
		for i := range pod.Spec.InitContainers {
			if isSidecar(&pod.Spec.InitContainers[i]) {
				add(&pod.Spec.InitContainers[i])
			}
		}
		for i := range pod.Spec.Containers {
			add(&pod.Spec.Containers[i])
		}
	}
	l.prober.Update(pod, running)
}

// statusOf builds the pod's status from the runtime state.
func (l *Loop) statusOf(pod *corev1.Pod, rec *podRecord, state podState, initDone, terminating bool) corev1.PodStatus {
	return buildStatus(statusInput{
		pod: pod, state: state, waiting: rec.waiting, initDone: initDone, terminating: terminating,
		probe: func(name string, c *containerInfo) ProbeResult {
			return l.prober.Result(pod.UID, name, runningOf(c))
		},
		hostIPs: l.cfg.HostIPs(), runtimeName: l.cfg.RuntimeName, now: l.clock.Now(),
		readTermLog: readTerminationLog, sandboxFailed: rec.sandboxFailed,
	})
}

// writeStatus posts the status computed without deciding on init containers (used on
// failures before containers are looked at).
func (l *Loop) writeStatus(ctx context.Context, pod *corev1.Pod, rec *podRecord, state podState, terminating bool) error {
	_, err := l.postStatus(ctx, pod, rec, state, initDoneIn(pod, state), terminating)
	return err
}

// initDoneIn reports whether init finished in the current sandbox (as syncInit decides).
func initDoneIn(pod *corev1.Pod, state podState) bool {
	sb := state.current()
	if sb == nil {
		return len(pod.Spec.InitContainers) == 0
	}
	for _, c := range pod.Spec.Containers {
		if len(state.instances(c.Name, sb.id)) > 0 {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		inst := state.instances(c.Name, sb.id)
		switch {
		case len(inst) == 0:
			return false
		case isSidecar(c):
			if !inst[0].running() {
				return false
			}
		case !inst[0].exited() || inst[0].exitCode != 0:
			return false
		}
	}
	return true
}

// statusUpdate is the body of a pods/status update of pod to status: the pod's metadata
// (the update is conditional on its resourceVersion, and labels and annotations sent are
// kept) and the status, without the spec — on the status subresource the server keeps
// the stored spec whatever the body says, as kube-apiserver does. The kubelet sends a
// patch of the status for the same reason: a pod's spec is most of its bytes, and
// encoding it on every status change costs the node CPU and memory for nothing.
func statusUpdate(pod *corev1.Pod, status corev1.PodStatus) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: *pod.ObjectMeta.DeepCopy(), Status: status}
}

// postStatus writes the pod's status when it differs from the API's. On a conflict it
// rebuilds the status over the API's current pod once.
func (l *Loop) postStatus(ctx context.Context, pod *corev1.Pod, rec *podRecord, state podState, initDone, terminating bool) (corev1.PodStatus, error) {
	status := l.statusOf(pod, rec, state, initDone, terminating)
	if apiequality.Semantic.DeepEqual(pod.Status, status) {
		return status, nil
	}
	pods := l.cfg.Client.CoreV1().Pods(pod.Namespace)
	_, err := pods.UpdateStatus(ctx, statusUpdate(pod, status), metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		fresh, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) || (gerr == nil && fresh.UID != pod.UID) {
			return status, nil
		}
		if gerr != nil {
			return status, gerr
		}
		status = l.statusOf(fresh, rec, state, initDone, terminating)
		if apiequality.Semantic.DeepEqual(fresh.Status, status) {
			return status, nil
		}
		_, err = pods.UpdateStatus(ctx, statusUpdate(fresh, status), metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return status, nil
	}
	if err != nil {
		return status, fmt.Errorf("update status of pod %s: %w", podKey(pod), err)
	}
	return status, nil
}

// gracePeriod is how long the pod's containers get to stop: the deletion's grace period,
// else the spec's, at least 2 s as in the kubelet.
func gracePeriod(pod *corev1.Pod) time.Duration {
	seconds := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod != nil && pod.Spec.TerminationGracePeriodSeconds != nil {
		seconds = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod != nil && pod.DeletionGracePeriodSeconds != nil {
		seconds = *pod.DeletionGracePeriodSeconds
	}
	return max(time.Duration(seconds)*time.Second, minGracePeriod)
}

const minGracePeriod = 2 * time.Second
