package plugins

import (
	"math"
	"slices"

	"github.com/berth/berth/internal/scheduler/framework"
)

// Insufficient-resource reasons for the built-in resources (others are formatted).
const (
	ReasonInsufficientCPU              = "Insufficient cpu"
	ReasonInsufficientMemory           = "Insufficient memory"
	ReasonInsufficientEphemeralStorage = "Insufficient ephemeral-storage"
)

var (
	statusTooManyPods = framework.NewStatus(ReasonTooManyPods)
	statusCPU         = framework.NewStatus(ReasonInsufficientCPU)
	statusMemory      = framework.NewStatus(ReasonInsufficientMemory)
)

// NodeResourcesFit rejects nodes without room for the pod's requests (cpu, memory,
// ephemeral storage, extended resources, pod count) and scores the rest by how much stays
// free (LeastAllocated over cpu and memory, counting default requests for containers
// that set none).
type NodeResourcesFit struct{ noPreFilter }

func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

func (NodeResourcesFit) Filter(_ any, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	alloc, used, req := &node.Allocatable, &node.Requested, &pod.Requests
	tooMany := int64(len(node.Pods))+1 > alloc.AllowedPodNumber
	cpu := req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU
	mem := req.Memory > 0 && req.Memory > alloc.Memory-used.Memory
	eph := req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage
	var scalar []string
	for name, want := range req.Scalar {
		if want > 0 && want > alloc.Scalar[name]-used.Scalar[name] {
			scalar = append(scalar, "Insufficient "+string(name))
		}
	}
	switch {
	case !tooMany && !cpu && !mem && !eph && len(scalar) == 0:
		return nil
	case tooMany && !cpu && !mem && !eph && len(scalar) == 0:
		return statusTooManyPods
	case !tooMany && cpu && !mem && !eph && len(scalar) == 0:
		return statusCPU
	case !tooMany && !cpu && mem && !eph && len(scalar) == 0:
		return statusMemory
	}
	var reasons []string
	if tooMany {
		reasons = append(reasons, ReasonTooManyPods)
	}
	if cpu {
		reasons = append(reasons, ReasonInsufficientCPU)
	}
	if mem {
		reasons = append(reasons, ReasonInsufficientMemory)
	}
	if eph {
		reasons = append(reasons, ReasonInsufficientEphemeralStorage)
	}
	slices.Sort(scalar) // map order must not leak into messages
	return framework.NewStatus(append(reasons, scalar...)...)
}

func (NodeResourcesFit) RequeueOn() framework.Event {
	return framework.EventNodeAdd | framework.EventNodeAllocatable | framework.EventPodDelete | framework.EventPodScaleDown
}

func (NodeResourcesFit) PreScore(*framework.Snapshot, *framework.PodInfo, []*framework.NodeInfo) (any, bool) {
	return nil, false
}

// Score is the mean over cpu and memory of (allocatable - requested) * 100 / allocatable.
func (NodeResourcesFit) Score(_ any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	var sum, weights int64
	if a := node.Allocatable.MilliCPU; a > 0 {
		sum += leastRequested(node.NonZeroCPU+pod.NonZeroCPU, a)
		weights++
	}
	if a := node.Allocatable.Memory; a > 0 {
		sum += leastRequested(node.NonZeroMemory+pod.NonZeroMemory, a)
		weights++
	}
	if weights == 0 {
		return 0
	}
	return sum / weights
}

func (NodeResourcesFit) Normalize(any, *framework.PodInfo, []int64) {}

func leastRequested(requested, capacity int64) int64 {
	if requested > capacity {
		return 0
	}
	return (capacity - requested) * framework.MaxNodeScore / capacity
}

// BalancedAllocation favours nodes whose cpu and memory would be used in equal fractions:
// (1 - |cpuFraction - memFraction| / 2) * 100, counting actual requests. Best-effort pods
// skip it (they would otherwise pile onto one node).
type BalancedAllocation struct{}

func (BalancedAllocation) Name() string { return "NodeResourcesBalancedAllocation" }

func (BalancedAllocation) PreScore(_ *framework.Snapshot, pod *framework.PodInfo, _ []*framework.NodeInfo) (any, bool) {
	return nil, pod.Requests.MilliCPU == 0 && pod.Requests.Memory == 0
}

func (BalancedAllocation) Score(_ any, pod *framework.PodInfo, node *framework.NodeInfo) int64 {
	var fractions [2]float64
	n := 0
	add := func(requested, allocatable int64) {
		if allocatable == 0 {
			return
		}
		fractions[n] = min(float64(requested)/float64(allocatable), 1)
		n++
	}
	add(node.Requested.MilliCPU+pod.Requests.MilliCPU, node.Allocatable.MilliCPU)
	add(node.Requested.Memory+pod.Requests.Memory, node.Allocatable.Memory)
	std := 0.0
	if n == 2 {
		std = math.Abs(fractions[0]-fractions[1]) / 2
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}

func (BalancedAllocation) Normalize(any, *framework.PodInfo, []int64) {}
