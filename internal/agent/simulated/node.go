package simulated

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels a kubelet puts on its node.
const (
	labelInstanceType = "node.kubernetes.io/instance-type"
	instanceType      = "simulated"
	labelRegion       = "topology.kubernetes.io/region"
	region            = "simulated"
)

// nodeObject is node i as it registers: labels and spec (status goes separately).
func (a *Agent) nodeObject(i int) *corev1.Node {
	name := a.cfg.nodeName(i)
	labels := map[string]string{
		corev1.LabelHostname:    name,
		corev1.LabelOSStable:    "linux",
		corev1.LabelArchStable:  "amd64",
		"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
		labelInstanceType: instanceType,
	}
	if zone := a.cfg.zoneName(i); zone != "" {
		labels[corev1.LabelTopologyZone] = zone
		labels[labelRegion] = region
	}
	maps.Copy(labels, a.cfg.Labels)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Labels: labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "berth.dev/simulated": "true"},
		},
	}
}

// nodeStatus is what the kubelet of node i reports, keeping the transition times of
// conditions that did not change. Like a real node, it is not Ready before node IPAM
// gave it a pod CIDR (its network plugin has nothing to configure), so the scheduler
// does not send it pods it could not start.
func (a *Agent) nodeStatus(i int, current corev1.NodeStatus, podCIDR string, now metav1.Time) corev1.NodeStatus {
	name := a.cfg.nodeName(i)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              a.cfg.CPU,
		corev1.ResourceMemory:           a.cfg.Memory,
		corev1.ResourceEphemeralStorage: a.cfg.EphemeralStorage,
		corev1.ResourcePods:             *resource.NewQuantity(int64(a.cfg.MaxPods), resource.DecimalSI),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
	id := fmt.Sprintf("%x", sha256.Sum256([]byte(name)))[:32]
	status := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Phase:       "",
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.cfg.nodeIP(i).String()},
			{Type: corev1.NodeHostName, Address: name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: id, SystemUUID: id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32],
			BootID:                  a.bootID,
			KernelVersion:           "6.1.0-simulated",
			OSImage:                 "berth simulated node",
			ContainerRuntimeVersion: "simulated://1.0.0",
			KubeletVersion:          a.cfg.KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
		Images:          current.Images,
		VolumesInUse:    current.VolumesInUse,
		VolumesAttached: current.VolumesAttached,
		Config:          current.Config,
	}
	want := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		readyCondition(podCIDR),
	}
	for _, c := range want {
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		for _, old := range current.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		status.Conditions = append(status.Conditions, c)
	}
	return status
}

// readyCondition is Ready once the node has a pod CIDR.
func readyCondition(podCIDR string) corev1.NodeCondition {
	if podCIDR == "" {
		return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message: "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:the node has no pod CIDR yet"}
	}
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
}

// nodeStatusStale reports whether the node's status is not what its kubelet reports:
// no capacity yet (just created), a condition someone else changed (the node
// lifecycle controller marking it Unknown), or readiness that no longer matches
// whether it has a pod CIDR.
func nodeStatusStale(n *corev1.Node) bool {
	if len(n.Status.Capacity) == 0 || n.Status.NodeInfo.KubeletVersion == "" {
		return true
	}
	healthy := map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: readyCondition(n.Spec.PodCIDR).Status, corev1.NodeMemoryPressure: corev1.ConditionFalse,
		corev1.NodeDiskPressure: corev1.ConditionFalse, corev1.NodePIDPressure: corev1.ConditionFalse,
	}
	seen := 0
	for _, c := range n.Status.Conditions {
		if want, ok := healthy[c.Type]; ok {
			if c.Status != want {
				return true
			}
			seen++
		}
	}
	return seen != len(healthy)
}

// register creates node i (or adopts it when it exists), posts its status and queues
// its first Lease.
func (a *Agent) register(ctx context.Context, i int) error {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Create(ctx, a.nodeObject(i), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = nodes.Get(ctx, a.cfg.nodeName(i), metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", a.cfg.nodeName(i), err)
	}
	a.setNodeUID(node.Name, node.UID)
	if err := a.postStatus(ctx, i, node); err != nil {
		return err
	}
	// The first Lease goes through the lease queue, which never runs two renewals of
	// one node at once.
	a.leaseQueue.Add(node.Name)
	return nil
}

// maxStatusConflicts bounds how often postStatus re-reads a node another writer changed
// first: right after registration the IPAM and lifecycle controllers write it too, and
// under load five in a row happened (a test's simulated nodes failed to start).
const maxStatusConflicts = 50

// postStatus writes node i's status, starting from node (re-read on conflict).
func (a *Agent) postStatus(ctx context.Context, i int, node *corev1.Node) error {
	nodes := a.client.CoreV1().Nodes()
	name := node.Name
	for attempt := 0; ; attempt++ {
		n := node.DeepCopy()
		n.Status = a.nodeStatus(i, node.Status, node.Spec.PodCIDR, metav1.Now())
		_, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) || attempt == maxStatusConflicts-1 {
			if err != nil {
				return fmt.Errorf("post status of node %s: %w", name, err)
			}
			return nil
		}
		if node, err = nodes.Get(ctx, name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("post status of node %s: %w", name, err)
		}
	}
}

// syncNode posts the node's status again when it is not what the kubelet reports.
func (a *Agent) syncNode(ctx context.Context, name string) error {
	i, ok := a.index[name]
	if !ok || a.isStopped(name) {
		return nil
	}
	node, err := a.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !nodeStatusStale(node) {
		return nil
	}
	return a.postStatus(ctx, i, node)
}

func (a *Agent) setNodeUID(name string, uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.uids[name] = uid
}

// isRegistered reports whether the node was registered by this process.
func (a *Agent) isRegistered(name string) bool { return a.nodeUID(name) != "" }

func (a *Agent) nodeUID(name string) types.UID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.uids[name]
}
