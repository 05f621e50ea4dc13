package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EmptyDirVolumes is the VolumeManager the agent starts with: emptyDir volumes (on disk,
// or tmpfs for medium Memory) under <podsDir>/<uid>/volumes. Any other volume type is an
// error, so such pods wait in ContainerCreating with a FailedMount event until a fuller
// VolumeManager (internal/agent/volumes) is plugged in.
type EmptyDirVolumes struct {
	PodsDir string
}

const emptyDirPlugin = "kubernetes.io~empty-dir"

func (v EmptyDirVolumes) dir(uid types.UID) string {
	return filepath.Join(v.PodsDir, string(uid), "volumes", emptyDirPlugin)
}

// Setup creates every emptyDir of the pod.
func (v EmptyDirVolumes) Setup(_ context.Context, pod *corev1.Pod) (map[string]string, error) {
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for _, vol := range pod.Spec.Volumes {
		if vol.EmptyDir == nil {
			return nil, fmt.Errorf("volume %q: only emptyDir volumes are supported by this agent", vol.Name)
		}
		path := filepath.Join(v.dir(pod.UID), vol.Name)
		if err := os.MkdirAll(path, 0o777); err != nil {
			return nil, err
		}
		// World-writable like the kubelet's, so non-root containers can use it.
		if err := os.Chmod(path, 0o777); err != nil {
			return nil, err
		}
		if vol.EmptyDir.Medium == corev1.StorageMediumMemory && !isMountPoint(path) {
			opts := "mode=0777"
			if l := vol.EmptyDir.SizeLimit; l != nil && !l.IsZero() {
				opts += ",size=" + strconv.FormatInt(l.Value(), 10)
			}
			if err := unix.Mount("tmpfs", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
				return nil, fmt.Errorf("volume %q: mount tmpfs: %w", vol.Name, err)
			}
		}
		paths[vol.Name] = path
	}
	return paths, nil
}

// Teardown unmounts tmpfs emptyDirs and removes the pod's volumes.
func (v EmptyDirVolumes) Teardown(_ context.Context, uid types.UID) error {
	dir := v.dir(uid)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if isMountPoint(path) {
			if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmount %s: %w", path, err)
			}
		}
	}
	return os.RemoveAll(filepath.Join(v.PodsDir, string(uid), "volumes"))
}

// isMountPoint compares the device of path with its parent's.
func isMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(path, &st) != nil || unix.Stat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// ReadyWhenRunning is the Prober the agent starts with: a running container is started
// and ready; nothing is probed and nothing fails liveness.
type ReadyWhenRunning struct{}

func (ReadyWhenRunning) Update(*corev1.Pod, map[string]RunningContainer) {}
func (ReadyWhenRunning) Result(types.UID, string, RunningContainer) ProbeResult {
	return ProbeResult{Ready: true, Started: true}
}
func (ReadyWhenRunning) Forget(types.UID) {}

// NoHooks is the Hooks the agent starts with: postStart and preStop are not run.
type NoHooks struct{}

func (NoHooks) PostStart(context.Context, *corev1.Pod, *corev1.Container, string) error { return nil }
func (NoHooks) PreStop(context.Context, *corev1.Pod, *corev1.Container, string, time.Duration) error {
	return nil
}

// hookDefined reports whether a container has any lifecycle hook (the NoHooks agent logs
// that they are skipped).
func hookDefined(c *corev1.Container) bool {
	return c.Lifecycle != nil && (c.Lifecycle.PostStart != nil || c.Lifecycle.PreStop != nil)
}
