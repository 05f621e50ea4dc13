package probes

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"github.com/berth/berth/internal/agent/pods"
)

// Config wires a Prober.
type Config struct {
	Actions  Actions
	Recorder record.EventRecorder
	// Resync queues the pod's sync when a result changed (the loop's).
	Resync pods.Resync
	Log    *slog.Logger
}

type kind int

const (
	startup kind = iota
	readiness
	liveness
)

func (k kind) String() string { return [...]string{"Startup", "Readiness", "Liveness"}[k] }

// workerKey is one probe of one container instance.
type workerKey struct {
	uid         types.UID
	container   string
	containerID string
	kind        kind
}

// Prober is the agent's pods.Prober. Its workers end with the context New got; Wait
// waits for them.
type Prober struct {
	cfg Config
	ctx context.Context
	wg  sync.WaitGroup

	mu      sync.Mutex
	workers map[workerKey]*worker
}

// New builds a Prober whose workers run until ctx ends.
func New(ctx context.Context, cfg Config) *Prober {
	if cfg.Recorder == nil {
		cfg.Recorder = &record.FakeRecorder{}
	}
	if cfg.Resync == nil {
		cfg.Resync = func(types.UID) {}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Prober{cfg: cfg, ctx: ctx, workers: map[workerKey]*worker{}}
}

// Wait waits for every worker to end (after the context ended or Forget).
func (p *Prober) Wait() { p.wg.Wait() }

func probeOf(c *corev1.Container, k kind) *corev1.Probe {
	switch k {
	case startup:
		return c.StartupProbe
	case readiness:
		return c.ReadinessProbe
	}
	return c.LivenessProbe
}

// Update starts workers for the probes of newly running container instances and stops
// those of instances no longer running.
func (p *Prober) Update(pod *corev1.Pod, running map[string]pods.RunningContainer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := map[workerKey]bool{}
	// Sidecars (init containers with restartPolicy Always) are probed like app containers.
	containers := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			containers = append(containers, c)
		}
	}
	for i := range pod.Spec.Containers {
		containers = append(containers, &pod.Spec.Containers[i])
	}
	for _, c := range containers {
		rc, ok := running[c.Name]
		if !ok {
			continue
		}
		for _, k := range []kind{startup, readiness, liveness} {
			probe := probeOf(c, k)
			if probe == nil {
				continue
			}
			key := workerKey{pod.UID, c.Name, rc.ID, k}
			want[key] = true
			if w, ok := p.workers[key]; ok {
				w.setPod(pod)
				continue
			}
			w := newWorker(p, key, pod, c.DeepCopy(), probe.DeepCopy(), rc.StartedAt)
			p.workers[key] = w
			p.wg.Add(1)
			go w.run()
		}
	}
	for key, w := range p.workers {
		if key.uid == pod.UID && !want[key] {
			w.stop()
			delete(p.workers, key)
		}
	}
}

// Result combines the container instance's probes as the kubelet does: not started
// until the startup probe passed, not ready until the readiness probe passed (once
// started), liveness or startup failure asks for a restart.
func (p *Prober) Result(uid types.UID, container string, rc pods.RunningContainer) pods.ProbeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := pods.ProbeResult{Ready: true, Started: true}
	if w := p.workers[workerKey{uid, container, rc.ID, startup}]; w != nil {
		r := w.result()
		res.Started = r == success
		if r == failure {
			res.LivenessFailed = true
			res.Message = fmt.Sprintf("Container %s failed startup probe, will be restarted", container)
		}
	}
	if w := p.workers[workerKey{uid, container, rc.ID, readiness}]; w != nil {
		res.Ready = w.result() == success
	}
	if w := p.workers[workerKey{uid, container, rc.ID, liveness}]; w != nil && w.result() == failure {
		res.LivenessFailed = true
		res.Message = fmt.Sprintf("Container %s failed liveness probe, will be restarted", container)
	}
	res.Ready = res.Ready && res.Started
	return res
}

// Forget stops every worker of the pod.
func (p *Prober) Forget(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, w := range p.workers {
		if key.uid == uid {
			w.stop()
			delete(p.workers, key)
		}
	}
}

// started reports whether the instance's startup probe passed (or it has none).
func (p *Prober) started(key workerKey) bool {
	key.kind = startup
	p.mu.Lock()
	w := p.workers[key]
	p.mu.Unlock()
	return w == nil || w.result() == success
}

type result int

const (
	unknown result = iota
	success
	failure
)

// worker probes one container instance periodically.
type worker struct {
	p         *Prober
	key       workerKey
	container *corev1.Container
	probe     *corev1.Probe
	startedAt time.Time
	cancel    context.CancelFunc
	ctx       context.Context

	mu        sync.Mutex
	pod       *corev1.Pod
	last      result
	successes int
	failures  int
}

func newWorker(p *Prober, key workerKey, pod *corev1.Pod, c *corev1.Container, probe *corev1.Probe, startedAt time.Time) *worker {
	ctx, cancel := context.WithCancel(p.ctx)
	w := &worker{p: p, key: key, pod: pod, container: c, probe: probe, startedAt: startedAt, ctx: ctx, cancel: cancel}
	if key.kind == liveness {
		w.last = success // a container is alive until its liveness probe says otherwise
	}
	return w
}

func (w *worker) stop() { w.cancel() }

func (w *worker) setPod(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
}

func (w *worker) result() result {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func seconds(v int32, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func (w *worker) run() {
	defer w.p.wg.Done()
	period := seconds(w.probe.PeriodSeconds, 10)
	// Jitter the first try so probes of many containers do not fire together, but never
	// before initialDelaySeconds after the container started.
	first := time.Duration(rand.Int64N(int64(period)))
	if delay := time.Until(w.startedAt.Add(time.Duration(w.probe.InitialDelaySeconds) * time.Second)); delay > first {
		first = delay
	}
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-timer.C:
		}
		if !w.once() {
			return
		}
		timer.Reset(period)
	}
}

// once runs one try and records it; it reports whether to keep probing.
func (w *worker) once() bool {
	if w.key.kind != startup && !w.p.started(w.key) {
		return true // startup gates the others
	}
	w.mu.Lock()
	pod := w.pod
	w.mu.Unlock()
	target := Target{Pod: pod, Container: w.container, ContainerID: w.key.containerID}
	timeout := seconds(w.probe.TimeoutSeconds, 1)
	ctx, cancel := context.WithTimeout(w.ctx, timeout)
	err := w.p.cfg.Actions.RunProbe(ctx, target, w.probe.ProbeHandler, timeout)
	cancel()
	if w.ctx.Err() != nil {
		return false
	}
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrFailed.Error()+": ")
		w.p.cfg.Recorder.Event(pod, corev1.EventTypeWarning, "Unhealthy", fmt.Sprintf("%s probe failed: %s", w.key.kind, msg))
	}

	w.mu.Lock()
	prev := w.last
	if err == nil {
		w.successes++
		w.failures = 0
		threshold := max(int(w.probe.SuccessThreshold), 1)
		if w.successes >= threshold {
			w.last = success
		}
	} else {
		w.failures++
		w.successes = 0
		threshold := max(int(w.probe.FailureThreshold), 1)
		if w.probe.FailureThreshold == 0 {
			threshold = 3
		}
		if w.failures >= threshold {
			w.last = failure
		}
	}
	now := w.last
	w.mu.Unlock()
	if now != prev {
		w.p.cfg.Log.Debug("probe result", "pod", pod.Namespace+"/"+pod.Name, "container", w.key.container,
			"probe", w.key.kind.String(), "result", now == success)
		w.p.cfg.Resync(w.key.uid)
	}
	switch {
	case w.key.kind == startup && now == success:
		return false // done once passed
	case w.key.kind != readiness && now == failure:
		return false // the container is restarted; its next instance gets new workers
	}
	return true
}
