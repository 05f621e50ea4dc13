package main

import (
	"context"
	"errors"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/agenttest"
)

// rawPod is the same pod through the CRI alone (as test/e2e/pod_test.go's
// runTwoContainerPod): the calls a kubelet makes for a new pod whose images are present.
type rawPod struct {
	sandboxID  string
	containers []string
}

// runRawPod makes the configs (not timed), then times RunPodSandbox and
// CreateContainer+StartContainer of the app and the sidecar. The sandbox has no pod UID
// label, so the agent leaves it alone.
func (l *lab) runRawPod(ctx context.Context, name string) (rawPod, time.Duration, error) {
	sandbox := agenttest.SandboxConfig(l.dataDir, l.cgroupRoot, name, randomID())
	delete(sandbox.Labels, "io.kubernetes.pod.uid")
	app, err := agenttest.ContainerConfig(sandbox, "app", appImage)
	if err != nil {
		return rawPod{}, 0, err
	}
	sidecar, err := agenttest.ContainerConfig(sandbox, "sidecar", busybox, sidecarCommand...)
	if err != nil {
		return rawPod{}, 0, err
	}
	start := time.Now()
	id, err := l.runtime.RunPodSandbox(ctx, sandbox, "")
	if err != nil {
		return rawPod{}, 0, err
	}
	pod := rawPod{sandboxID: id}
	for _, c := range []*runtimeapi.ContainerConfig{app, sidecar} {
		cid, err := l.runtime.CreateContainer(ctx, id, c, sandbox)
		if err != nil {
			return pod, 0, err
		}
		pod.containers = append(pod.containers, cid)
		if err := l.runtime.StartContainer(ctx, cid); err != nil {
			return pod, 0, err
		}
	}
	return pod, time.Since(start), nil
}

// removeRawPod stops and removes the pod as the kubelet does on delete.
func (l *lab) removeRawPod(ctx context.Context, pod rawPod) error {
	var errs []error
	for _, cid := range pod.containers {
		errs = append(errs, l.runtime.StopContainer(ctx, cid, 0))
	}
	if pod.sandboxID != "" {
		errs = append(errs, l.runtime.StopPodSandbox(ctx, pod.sandboxID), l.runtime.RemovePodSandbox(ctx, pod.sandboxID))
	}
	return errors.Join(errs...)
}

// runRawPods starts the pods at once (one goroutine each) and returns each one's time;
// the pods it made are returned for removal, also on error.
func (l *lab) runRawPods(ctx context.Context, names []string) ([]rawPod, []time.Duration, error) {
	pods := make([]rawPod, len(names))
	took := make([]time.Duration, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pods[i], took[i], errs[i] = l.runRawPod(ctx, name)
		}()
	}
	wg.Wait()
	return pods, took, errors.Join(errs...)
}

// removeRawPods removes the pods at once.
func (l *lab) removeRawPods(ctx context.Context, pods []rawPod) error {
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.removeRawPod(ctx, p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
