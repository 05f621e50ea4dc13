package pods

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels and annotations the agent puts on sandboxes and containers (the kubelet's keys,
// so tools that know them — crictl, log collectors — work).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	annoHash           = "io.kubernetes.container.hash"
	annoRestartCount   = "io.kubernetes.container.restartCount"
	annoTermPath       = "io.kubernetes.container.terminationMessagePath"
	annoTermPolicy     = "io.kubernetes.container.terminationMessagePolicy"
	annoTermLogFile    = "berth.dev/termination-log"
	annoInit           = "berth.dev/init-container"
)

// sandboxInfo is one sandbox of a pod as the runtime has it.
type sandboxInfo struct {
	id        string
	attempt   uint32
	ready     bool
	createdAt time.Time
	ips       []string
}

// containerInfo is one container instance of a pod.
type containerInfo struct {
	id, name, sandboxID string
	init                bool
	restartCount        int
	hash                string
	state               runtimeapi.ContainerState
	createdAt           time.Time
	startedAt           time.Time
	finishedAt          time.Time
	exitCode            int32
	reason, message     string
	imageRef            string
	termLogFile         string
}

func (c *containerInfo) running() bool { return c.state == runtimeapi.ContainerState_CONTAINER_RUNNING }
func (c *containerInfo) exited() bool  { return c.state == runtimeapi.ContainerState_CONTAINER_EXITED }

// podState is everything of one pod in the runtime: sandboxes and containers, newest
// first.
type podState struct {
	sandboxes  []*sandboxInfo
	containers []*containerInfo
}

// current is the newest sandbox (nil if none).
func (s podState) current() *sandboxInfo {
	if len(s.sandboxes) == 0 {
		return nil
	}
	return s.sandboxes[0]
}

// instances of the named container, newest first; sandboxID "" means in any sandbox.
func (s podState) instances(name, sandboxID string) []*containerInfo {
	var out []*containerInfo
	for _, c := range s.containers {
		if c.name == name && (sandboxID == "" || c.sandboxID == sandboxID) {
			out = append(out, c)
		}
	}
	return out
}

// empty reports whether the runtime has nothing of the pod.
func (s podState) empty() bool { return len(s.sandboxes) == 0 && len(s.containers) == 0 }

// runtimeCache remembers what does not change for a runtime object in a given state
// (a sandbox's IPs once ready, a container's times and exit once it reached a state),
// so a sync costs two list calls when nothing changed.
type runtimeCache struct {
	mu         sync.Mutex
	sandboxIPs map[string][]string
	containers map[string]*containerInfo // by ID; valid for containerInfo.state
	// stopped are containers the loop stopped itself: their SIGKILL is no OOM kill.
	stopped map[string]bool
}

func newRuntimeCache() *runtimeCache {
	return &runtimeCache{sandboxIPs: map[string][]string{}, containers: map[string]*containerInfo{}, stopped: map[string]bool{}}
}

// markStopped records that the loop stops the container.
func (c *runtimeCache) markStopped(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped[id] = true
}

func (c *runtimeCache) wasStopped(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped[id]
}

// prune drops entries of objects the runtime no longer lists.
func (c *runtimeCache) prune(sandboxes map[string]bool, containers map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.sandboxIPs {
		if !sandboxes[id] {
			delete(c.sandboxIPs, id)
		}
	}
	for id := range c.containers {
		if !containers[id] {
			delete(c.containers, id)
		}
	}
	for id := range c.stopped {
		if !containers[id] {
			delete(c.stopped, id)
		}
	}
}

// observe reads the runtime's state of one pod.
func (l *Loop) observe(ctx context.Context, uid string) (podState, error) {
	selector := map[string]string{labelPodUID: uid}
	sandboxes, err := l.runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: selector})
	if err != nil {
		return podState{}, err
	}
	containers, err := l.runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: selector})
	if err != nil {
		return podState{}, err
	}
	var st podState
	for _, sb := range sandboxes {
		info := &sandboxInfo{
			id: sb.Id, attempt: sb.GetMetadata().GetAttempt(), ready: sb.State == runtimeapi.PodSandboxState_SANDBOX_READY,
			createdAt: time.Unix(0, sb.CreatedAt),
		}
		if info.ready {
			if info.ips, err = l.sandboxIPs(ctx, sb.Id); err != nil {
				return podState{}, err
			}
		}
		st.sandboxes = append(st.sandboxes, info)
	}
	sort.Slice(st.sandboxes, func(i, j int) bool {
		return newer(st.sandboxes[i].createdAt, st.sandboxes[i].attempt, st.sandboxes[j].createdAt, st.sandboxes[j].attempt)
	})
	for _, c := range containers {
		info, err := l.containerInfo(ctx, c)
		if err != nil {
			return podState{}, err
		}
		if info != nil {
			st.containers = append(st.containers, info)
		}
	}
	sort.Slice(st.containers, func(i, j int) bool {
		a, b := st.containers[i], st.containers[j]
		return newer(a.createdAt, uint32(a.restartCount), b.createdAt, uint32(b.restartCount))
	})
	return st, nil
}

// newer orders by creation time, then attempt (creation times can tie on coarse clocks).
func newer(at time.Time, attemptA uint32, bt time.Time, attemptB uint32) bool {
	if !at.Equal(bt) {
		return at.After(bt)
	}
	return attemptA > attemptB
}

// sandboxInfo reads one sandbox's status (and caches its IPs once it is ready).
func (l *Loop) sandboxInfo(ctx context.Context, id string) (*sandboxInfo, error) {
	resp, err := l.runtime.PodSandboxStatus(ctx, id, false)
	if err != nil {
		return nil, err
	}
	st := resp.GetStatus()
	info := &sandboxInfo{
		id: id, attempt: st.GetMetadata().GetAttempt(), ready: st.GetState() == runtimeapi.PodSandboxState_SANDBOX_READY,
		createdAt: time.Unix(0, st.GetCreatedAt()), ips: statusIPs(st),
	}
	if info.ready {
		l.cache.mu.Lock()
		l.cache.sandboxIPs[id] = info.ips
		l.cache.mu.Unlock()
	}
	return info, nil
}

// statusIPs are a sandbox's IPs, the primary one first.
func statusIPs(st *runtimeapi.PodSandboxStatus) []string {
	var ips []string
	if n := st.GetNetwork(); n != nil && n.Ip != "" {
		ips = append(ips, n.Ip)
		for _, extra := range n.AdditionalIps {
			ips = append(ips, extra.Ip)
		}
	}
	return ips
}

func (l *Loop) sandboxIPs(ctx context.Context, id string) ([]string, error) {
	l.cache.mu.Lock()
	ips, ok := l.cache.sandboxIPs[id]
	l.cache.mu.Unlock()
	if ok {
		return ips, nil
	}
	resp, err := l.runtime.PodSandboxStatus(ctx, id, false)
	if err != nil {
		return nil, err
	}
	ips = statusIPs(resp.GetStatus())
	l.cache.mu.Lock()
	l.cache.sandboxIPs[id] = ips
	l.cache.mu.Unlock()
	return ips, nil
}

// containerInfo details a listed container, from the cache when its state is unchanged.
func (l *Loop) containerInfo(ctx context.Context, c *runtimeapi.Container) (*containerInfo, error) {
	l.cache.mu.Lock()
	cached, ok := l.cache.containers[c.Id]
	l.cache.mu.Unlock()
	if ok && cached.state == c.State {
		return cached, nil
	}
	s, err := l.containerStatus(ctx, c.Id)
	if isNotFound(err) {
		return nil, nil // removed between the list and now
	}
	if err != nil {
		return nil, err
	}
	restarts, _ := strconv.Atoi(c.Annotations[annoRestartCount])
	info := &containerInfo{
		id: c.Id, name: c.Labels[labelContainerName], sandboxID: c.PodSandboxId,
		init: c.Annotations[annoInit] == "true", restartCount: restarts, hash: c.Annotations[annoHash],
		state: s.GetState(), createdAt: time.Unix(0, s.GetCreatedAt()),
		exitCode: s.GetExitCode(), reason: s.GetReason(), message: s.GetMessage(),
		imageRef: s.GetImageRef(), termLogFile: c.Annotations[annoTermLogFile],
	}
	if s.GetStartedAt() > 0 {
		info.startedAt = time.Unix(0, s.GetStartedAt())
	}
	if s.GetFinishedAt() > 0 {
		info.finishedAt = time.Unix(0, s.GetFinishedAt())
	}
	l.cache.mu.Lock()
	l.cache.containers[c.Id] = info
	l.cache.mu.Unlock()
	return info, nil
}

// oomSettle is how long after a SIGKILL death the runtime may still turn the reason
// "Error" into "OOMKilled": containerd handles the task's exit and OOM events one after
// the other, in either order, and reports "Error" in between.
const oomSettle = 500 * time.Millisecond

// containerStatus is the runtime's status of a container. For one that died of SIGKILL
// moments ago with reason "Error" (and that the loop did not stop itself), it asks again
// until oomSettle has passed since the death or the reason changed: the status is
// cached as final once exited, and a pod with restartPolicy Never would be posted Failed
// with the wrong reason for good.
func (l *Loop) containerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	for {
		resp, err := l.runtime.ContainerStatus(ctx, id, false)
		if err != nil {
			return nil, err
		}
		s := resp.GetStatus()
		if s.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || s.GetExitCode() != 137 || s.GetReason() != "Error" ||
			l.cache.wasStopped(id) {
			return s, nil
		}
		left := oomSettle - l.clock.Since(time.Unix(0, s.GetFinishedAt()))
		if left <= 0 {
			return s, nil
		}
		t := l.clock.NewTimer(min(left, 20*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C():
		}
	}
}
