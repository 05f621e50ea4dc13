package pods

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// PodLimits are what the kubelet puts on a pod's own cgroup (cgroupfs driver): a memory
// and a cpu limit when the pod declares one for everything it runs (every container,
// init containers included, has a limit, or the pod sets spec.resources), and cpu shares
// from its requests, so that the pod as a whole cannot exceed what its containers may.
type PodLimits struct {
	// MemoryBytes and CPUMilli are 0 when there is no limit.
	MemoryBytes, CPUMilli int64
	// CPUShares is the cgroup v1 weight: 1024 per requested cpu, at least 2.
	CPUShares int64
}

// cfsPeriod is the CFS period the quota is a share of (the kernel's default, 100 ms).
const cfsPeriod = 100000

// podLimits computes the pod cgroup's settings as the kubelet's ResourceConfigForPod.
func podLimits(pod *corev1.Pod) PodLimits {
	opts := resourcehelper.PodResourcesOptions{}
	limits := resourcehelper.PodLimits(pod, opts)
	requests := resourcehelper.PodRequests(pod, opts)
	declared := func(name corev1.ResourceName) bool {
		if pl := pod.Spec.Resources; pl != nil {
			if _, ok := pl.Limits[name]; ok {
				return true
			}
		}
		all := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
		for _, c := range all {
			if _, ok := c.Resources.Limits[name]; !ok {
				return false
			}
		}
		return len(all) > 0
	}
	out := PodLimits{CPUShares: max(requests.Cpu().MilliValue()*1024/1000, 2)}
	if declared(corev1.ResourceMemory) {
		out.MemoryBytes = limits.Memory().Value()
	}
	if declared(corev1.ResourceCPU) {
		out.CPUMilli = limits.Cpu().MilliValue()
	}
	return out
}

// apply writes the settings into a new pod cgroup dir of hierarchy h (cgroup v1
// controllers by their mount's name; cgroup v2 files where the unified hierarchy has
// the controllers enabled).
func (p PodLimits) apply(h, dir string) error {
	write := func(file, value string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
			return fmt.Errorf("pod cgroup %s: %w", file, err)
		}
		return nil
	}
	exists := func(file string) bool {
		_, err := os.Stat(filepath.Join(dir, file))
		return err == nil
	}
	controllers := strings.Split(filepath.Base(h), ",")
	switch {
	case slices.Contains(controllers, "memory"):
		if p.MemoryBytes > 0 {
			return write("memory.limit_in_bytes", strconv.FormatInt(p.MemoryBytes, 10))
		}
	case slices.Contains(controllers, "cpu"):
		if err := write("cpu.shares", strconv.FormatInt(p.CPUShares, 10)); err != nil {
			return err
		}
		if p.CPUMilli > 0 {
			if err := write("cpu.cfs_period_us", strconv.Itoa(cfsPeriod)); err != nil {
				return err
			}
			return write("cpu.cfs_quota_us", strconv.FormatInt(max(p.CPUMilli*cfsPeriod/1000, 1000), 10))
		}
	default:
		// cgroup v2: only where the parent delegated the controllers to us.
		if p.MemoryBytes > 0 && exists("memory.max") {
			if err := write("memory.max", strconv.FormatInt(p.MemoryBytes, 10)); err != nil {
				return err
			}
		}
		if p.CPUMilli > 0 && exists("cpu.max") {
			return write("cpu.max", fmt.Sprintf("%d %d", max(p.CPUMilli*cfsPeriod/1000, 1000), cfsPeriod))
		}
	}
	return nil
}
