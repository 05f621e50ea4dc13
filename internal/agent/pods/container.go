package pods

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// configError is a container whose config cannot be built (CreateContainerConfigError).
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// containerHash identifies what of a container's spec its running instance must match: a
// pod's containers are immutable but for their image, so, as the kubelet's HashContainer
// since Kubernetes 1.31, only the name and the image are hashed. A running container
// whose hash differs was started from an older image and is restarted; a new field in a
// later k8s.io/api cannot change the hash and restart every container when the agent is
// upgraded.
func containerHash(c *corev1.Container) string {
	h := fnv.New32a()
	h.Write([]byte(c.Name))
	h.Write([]byte{0})
	h.Write([]byte(c.Image))
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// legacyContainerHash is the hash agents before containerHash stored: the whole
// container's JSON.
func legacyContainerHash(c *corev1.Container) string {
	raw, _ := json.Marshal(c)
	h := fnv.New32a()
	h.Write(raw)
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// specChanged reports whether a container started with the stored hash no longer
// matches c. A container an older agent started carries the legacy hash, which is
// accepted for as long as the spec is the one it was started from: upgrading the agent
// restarts no container. (The legacy hash is computed only on a mismatch, so only
// containers from before the upgrade run the JSON encoder.)
func specChanged(c *corev1.Container, stored string) bool {
	return stored != containerHash(c) && stored != legacyContainerHash(c)
}

// startInput is what one container start needs.
type startInput struct {
	pod          *corev1.Pod
	container    *corev1.Container
	init         bool
	restartCount int
	image        pulledImage
	sandbox      *sandboxInfo
	volumePaths  map[string]string
}

// containerConfig builds the CRI config of one container instance.
func (l *Loop) containerConfig(ctx context.Context, in startInput) (*runtimeapi.ContainerConfig, error) {
	pod, c := in.pod, in.container
	uid := string(pod.UID)
	envs, err := l.env.Env(ctx, pod, c, in.sandbox.ips)
	if err != nil {
		return nil, configError{err}
	}
	vars := make(map[string]string, len(envs))
	for _, kv := range envs {
		vars[kv.Key] = string(kv.Value)
	}
	security, err := containerSecurity(pod, c, in.image)
	if err != nil {
		return nil, configError{err}
	}
	mounts, err := l.mounts(in)
	if err != nil {
		return nil, configError{err}
	}
	if err := os.MkdirAll(filepath.Join(l.logDir(uid), c.Name), 0o755); err != nil {
		return nil, err
	}
	annotations := map[string]string{
		annoHash:         containerHash(c),
		annoRestartCount: strconv.Itoa(in.restartCount),
		annoTermPath:     c.TerminationMessagePath,
		annoTermPolicy:   string(c.TerminationMessagePolicy),
	}
	if in.init {
		annotations[annoInit] = "true"
	}
	for _, m := range mounts {
		if m.ContainerPath == c.TerminationMessagePath && c.TerminationMessagePath != "" {
			annotations[annoTermLogFile] = m.HostPath
		}
	}
	return &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(in.restartCount)},
		Image:      &runtimeapi.ImageSpec{Image: in.image.ref, UserSpecifiedImage: c.Image},
		Command:    expandAll(c.Command, vars),
		Args:       expandAll(c.Args, vars),
		WorkingDir: c.WorkingDir,
		Envs:       envs,
		Mounts:     mounts,
		Labels: map[string]string{
			labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: uid, labelContainerName: c.Name,
		},
		Annotations: annotations,
		LogPath:     filepath.Join(c.Name, strconv.Itoa(in.restartCount)+".log"),
		Stdin:       c.Stdin,
		StdinOnce:   c.StdinOnce,
		Tty:         c.TTY,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       l.resources(pod, c),
			SecurityContext: security,
		},
	}, nil
}

// mounts are the container's volume mounts plus its termination message file.
func (l *Loop) mounts(in startInput) ([]*runtimeapi.Mount, error) {
	c := in.container
	var out []*runtimeapi.Mount
	for _, vm := range c.VolumeMounts {
		host, ok := in.volumePaths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		if sub := vm.SubPath; sub != "" {
			if filepath.IsAbs(sub) || strings.Contains(sub, "..") {
				return nil, fmt.Errorf("invalid subPath %q of volume %q", sub, vm.Name)
			}
			host = filepath.Join(host, sub)
			if _, err := os.Stat(host); os.IsNotExist(err) {
				if err := os.MkdirAll(host, 0o750); err != nil {
					return nil, err
				}
			}
		}
		m := &runtimeapi.Mount{ContainerPath: vm.MountPath, HostPath: host, Readonly: vm.ReadOnly}
		if vm.MountPropagation != nil {
			switch *vm.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				m.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case corev1.MountPropagationBidirectional:
				m.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			}
		}
		out = append(out, m)
	}
	if path := c.TerminationMessagePath; path != "" && !mountedAt(out, path) {
		dir := filepath.Join(l.podDir(string(in.pod.UID)), "containers", c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		file := filepath.Join(dir, strconv.Itoa(in.restartCount))
		if err := os.WriteFile(file, nil, 0o666); err != nil {
			return nil, err
		}
		// Writable for any user the container runs as.
		if err := os.Chmod(file, 0o666); err != nil {
			return nil, err
		}
		out = append(out, &runtimeapi.Mount{ContainerPath: path, HostPath: file})
	}
	return out, nil
}

func mountedAt(mounts []*runtimeapi.Mount, path string) bool {
	for _, m := range mounts {
		if m.ContainerPath == path {
			return true
		}
	}
	return false
}

// CPU and memory translation, as the kubelet's cgroupfs path does it.
const (
	minShares     = 2
	sharesPerCPU  = 1024
	quotaPeriod   = 100000 // µs
	minQuota      = 1000
	guaranteedOOM = -997
	bestEffortOOM = 1000
)

func milliCPUToShares(milli int64) int64 {
	if milli == 0 {
		return minShares
	}
	return max(milli*sharesPerCPU/1000, minShares)
}

func milliCPUToQuota(milli int64) int64 {
	if milli == 0 {
		return 0
	}
	return max(milli*quotaPeriod/1000, minQuota)
}

// resources are the container's cgroup limits: shares from the CPU request, CFS quota
// from the CPU limit, the memory limit, and the OOM score of the pod's QoS class.
func (l *Loop) resources(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{}
	req, lim := c.Resources.Requests, c.Resources.Limits
	cpuReq := req.Cpu().MilliValue()
	if _, ok := req[corev1.ResourceCPU]; !ok {
		cpuReq = lim.Cpu().MilliValue()
	}
	r.CpuShares = milliCPUToShares(cpuReq)
	if q, ok := lim[corev1.ResourceCPU]; ok && !q.IsZero() {
		r.CpuPeriod = quotaPeriod
		r.CpuQuota = milliCPUToQuota(q.MilliValue())
	}
	if q, ok := lim[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = q.Value()
	}
	r.OomScoreAdj = l.oomScoreAdj(pod, c)
	return r
}

// oomScoreAdj follows the kubelet: Guaranteed pods are killed last, BestEffort first,
// Burstable in between by the share of memory they asked for.
func (l *Loop) oomScoreAdj(pod *corev1.Pod, c *corev1.Container) int64 {
	switch podQOS(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOM
	case corev1.PodQOSBestEffort:
		return bestEffortOOM
	}
	capacity := int64(0)
	if l.cfg.Allocatable != nil {
		alloc := l.cfg.Allocatable()
		mem := alloc[corev1.ResourceMemory]
		capacity = mem.Value()
	}
	if capacity <= 0 {
		return 999
	}
	adj := 1000 - (1000*c.Resources.Requests.Memory().Value())/capacity
	return min(max(adj, 2), 999)
}

// podQOS is the pod's QoS class (from its status when the API server set it).
func podQOS(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	guaranteed, any := true, false
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[res]
			lim, hasLim := c.Resources.Limits[res]
			if hasReq && !req.IsZero() || hasLim && !lim.IsZero() {
				any = true
			}
			if !hasLim || !hasReq || req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// containerSecurity merges the pod's and the container's security contexts and checks
// runAsNonRoot against the user the container will run as.
func containerSecurity(pod *corev1.Pod, c *corev1.Container, image pulledImage) (*runtimeapi.LinuxContainerSecurityContext, error) {
	psc, csc := pod.Spec.SecurityContext, c.SecurityContext
	sc := &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: namespaces(pod),
		Seccomp:          seccomp(psc, csc),
	}
	var runAsUser, runAsGroup *int64
	var runAsNonRoot *bool
	if psc != nil {
		runAsUser, runAsGroup, runAsNonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		sc.SupplementalGroups = supplementalGroups(psc)
	}
	if csc != nil {
		if csc.RunAsUser != nil {
			runAsUser = csc.RunAsUser
		}
		if csc.RunAsGroup != nil {
			runAsGroup = csc.RunAsGroup
		}
		if csc.RunAsNonRoot != nil {
			runAsNonRoot = csc.RunAsNonRoot
		}
		if csc.Privileged != nil {
			sc.Privileged = *csc.Privileged
		}
		if csc.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *csc.ReadOnlyRootFilesystem
		}
		if csc.AllowPrivilegeEscalation != nil {
			sc.NoNewPrivs = !*csc.AllowPrivilegeEscalation
		}
		if caps := csc.Capabilities; caps != nil {
			sc.Capabilities = &runtimeapi.Capability{}
			for _, a := range caps.Add {
				sc.Capabilities.AddCapabilities = append(sc.Capabilities.AddCapabilities, string(a))
			}
			for _, d := range caps.Drop {
				sc.Capabilities.DropCapabilities = append(sc.Capabilities.DropCapabilities, string(d))
			}
		}
	}
	if runAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: *runAsUser}
	}
	if runAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: *runAsGroup}
	}
	if runAsNonRoot != nil && *runAsNonRoot {
		if err := verifyNonRoot(pod, c, runAsUser, image); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// verifyNonRoot refuses a container that would run as root under runAsNonRoot, with the
// kubelet's messages.
func verifyNonRoot(pod *corev1.Pod, c *corev1.Container, runAsUser *int64, image pulledImage) error {
	where := fmt.Sprintf("(pod: %q, container: %s)", pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")", c.Name)
	if runAsUser != nil {
		if *runAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy %s", where)
		}
		return nil
	}
	if image.uid != nil {
		if *image.uid == 0 {
			return fmt.Errorf("container has runAsNonRoot and image will run as root %s", where)
		}
		return nil
	}
	if image.username != "" {
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root %s", image.username, where)
	}
	return fmt.Errorf("container has runAsNonRoot and image will run as root %s", where)
}
