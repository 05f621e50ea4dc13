package node

import (
	"fmt"
	"runtime"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Eviction thresholds of the kubelet's defaults; a node under them reports pressure.
const (
	memoryAvailableMin = 100 << 20 // memory.available < 100Mi
	nodefsAvailablePct = 10        // nodefs.available < 10%
	nodefsInodesPct    = 5         // nodefs.inodesFree < 5%
	imagefsAvailPct    = 15        // imagefs.available < 15%
	pidsAvailablePct   = 10        // fewer than 10% of pid_max left
	maxImages          = 50        // the kubelet reports the 50 biggest images
)

// Readings are one look at the machine and the runtime.
type Readings struct {
	CPUs            int
	Memory          Memory
	NodeFS, ImageFS Filesystem
	PIDs            PIDs
	// RuntimeErr, when set, makes the node NotReady with its text (runtime down, no pod
	// network yet).
	RuntimeErr error
	Images     []corev1.ContainerImage
}

// Pressure says which of the kubelet's pressure conditions hold for r.
type Pressure struct{ Memory, Disk, PID bool }

// Thresholds are the disk eviction thresholds (the kubelet's --eviction-hard
// nodefs.available and imagefs.available): the percent of each filesystem that must stay
// available, or the node reports DiskPressure and is tainted. 0 turns a check off, as
// kind does for CI machines whose disks are mostly full.
type Thresholds struct{ NodeFSAvailablePct, ImageFSAvailablePct uint64 }

// DefaultThresholds are the kubelet's defaults.
var DefaultThresholds = Thresholds{NodeFSAvailablePct: nodefsAvailablePct, ImageFSAvailablePct: imagefsAvailPct}

// PressureOf applies the eviction thresholds.
func PressureOf(r Readings, t Thresholds) Pressure {
	var p Pressure
	p.Memory = r.Memory.Total > 0 && r.Memory.Available < memoryAvailableMin
	below := func(avail, total, pct uint64) bool { return total > 0 && avail*100 < total*pct }
	p.Disk = below(r.NodeFS.Available, r.NodeFS.Capacity, t.NodeFSAvailablePct) ||
		below(r.NodeFS.InodesFree, r.NodeFS.Inodes, nodefsInodesPct) ||
		below(r.ImageFS.Available, r.ImageFS.Capacity, t.ImageFSAvailablePct)
	p.PID = r.PIDs.Max > 0 && r.PIDs.Used < r.PIDs.Max && below(r.PIDs.Max-r.PIDs.Used, r.PIDs.Max, pidsAvailablePct)
	return p
}

// statusInput is everything one node status is computed from.
type statusInput struct {
	readings       Readings
	thresholds     Thresholds
	maxPods        int
	addresses      []corev1.NodeAddress
	info           Info
	runtimeVersion string // "containerd://1.6.20"
	kubeletVersion string
	kubeletPort    int32
	current        corev1.NodeStatus // kept: transition times, volumes, config
	now            metav1.Time
}

// buildStatus is the node status a kubelet would post for in.
func buildStatus(in statusInput) corev1.NodeStatus {
	r := in.readings
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(r.CPUs), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(int64(r.Memory.Total), resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(r.NodeFS.Capacity), resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(in.maxPods), resource.DecimalSI),
		"hugepages-1Gi":                 *resource.NewQuantity(0, resource.BinarySI),
		"hugepages-2Mi":                 *resource.NewQuantity(0, resource.BinarySI),
	}
	allocatable := capacity.DeepCopy()
	// Allocatable leaves the hard eviction thresholds out, as the kubelet's does.
	allocatable[corev1.ResourceMemory] = *resource.NewQuantity(max(int64(r.Memory.Total)-memoryAvailableMin, 0), resource.BinarySI)
	allocatable[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(r.NodeFS.Capacity/100*(100-nodefsAvailablePct)), resource.BinarySI)

	status := corev1.NodeStatus{
		Capacity:        capacity,
		Allocatable:     allocatable,
		Addresses:       in.addresses,
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: in.kubeletPort}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: in.info.MachineID, SystemUUID: in.info.SystemUUID, BootID: in.info.BootID,
			KernelVersion: in.info.KernelVersion, OSImage: in.info.OSImage,
			ContainerRuntimeVersion: in.runtimeVersion, KubeletVersion: in.kubeletVersion,
			OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
		},
		Images:          topImages(r.Images),
		VolumesInUse:    in.current.VolumesInUse,
		VolumesAttached: in.current.VolumesAttached,
		Config:          in.current.Config,
	}
	p := PressureOf(r, in.thresholds)
	status.Conditions = conditions(in.current.Conditions, in.now, []corev1.NodeCondition{
		pressure(corev1.NodeMemoryPressure, p.Memory, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
			"KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		pressure(corev1.NodeDiskPressure, p.Disk, "KubeletHasDiskPressure", "kubelet has disk pressure",
			"KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		pressure(corev1.NodePIDPressure, p.PID, "KubeletHasInsufficientPID", "kubelet has insufficient PID available",
			"KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		ready(r.RuntimeErr),
	})
	return status
}

func pressure(t corev1.NodeConditionType, on bool, onReason, onMsg, offReason, offMsg string) corev1.NodeCondition {
	if on {
		return corev1.NodeCondition{Type: t, Status: corev1.ConditionTrue, Reason: onReason, Message: onMsg}
	}
	return corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: offReason, Message: offMsg}
}

func ready(runtimeErr error) corev1.NodeCondition {
	if runtimeErr != nil {
		return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message: fmt.Sprintf("container runtime not ready: %v", runtimeErr)}
	}
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
}

// conditions stamps want with now as heartbeat, keeping the transition time of every
// condition whose status did not change, and keeps conditions of other types (set by
// others) as they are.
func conditions(current []corev1.NodeCondition, now metav1.Time, want []corev1.NodeCondition) []corev1.NodeCondition {
	out := make([]corev1.NodeCondition, 0, len(want)+len(current))
	ours := map[corev1.NodeConditionType]bool{}
	for _, c := range want {
		ours[c.Type] = true
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		for _, old := range current {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	for _, c := range current {
		if !ours[c.Type] {
			out = append(out, c)
		}
	}
	return out
}

// topImages keeps the biggest maxImages images, biggest first, as the kubelet does.
func topImages(images []corev1.ContainerImage) []corev1.ContainerImage {
	out := append([]corev1.ContainerImage(nil), images...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].SizeBytes > out[j].SizeBytes })
	if len(out) > maxImages {
		out = out[:maxImages]
	}
	return out
}

// sameStatus reports whether a and b differ only in heartbeat times.
func sameStatus(a, b corev1.NodeStatus) bool {
	strip := func(s corev1.NodeStatus) corev1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return s
	}
	return equalStatus(strip(a), strip(b))
}
