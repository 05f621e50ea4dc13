package plugins

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const zone = corev1.LabelTopologyZone

func TestNodeResourcesFitFilter(t *testing.T) {
	n1 := node("n1").Allocatable(corev1.ResourceEphemeralStorage, "10Gi").Allocatable("example.com/gpu", "1").Obj()
	two := node("two").Allocatable(corev1.ResourcePods, "1").Obj()
	runFilterCases(t, NodeResourcesFit{}, []filterCase{
		{name: "fits", pod: pod("p").Req("1", "1Gi").Obj(), nodes: []*corev1.Node{n1}, want: map[string]string{}},
		{name: "insufficient cpu", pod: pod("p").Req("3", "1Gi").Obj(), nodes: []*corev1.Node{n1},
			pods: []*corev1.Pod{pod("a").Req("2", "").Node("n1").Obj()},
			want: map[string]string{"n1": "Insufficient cpu"}},
		{name: "insufficient memory", pod: pod("p").Req("", "9Gi").Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient memory"}},
		{name: "cpu and memory", pod: pod("p").Req("5", "9Gi").Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient cpu; Insufficient memory"}},
		{name: "ephemeral storage", pod: pod("p").Request(corev1.ResourceEphemeralStorage, "11Gi").Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient ephemeral-storage"}},
		{name: "extended resource", pod: pod("p").Request("example.com/gpu", "2").Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient example.com/gpu"}},
		{name: "extended resource the node lacks", pod: pod("p").Request("example.com/fpga", "1").Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient example.com/fpga"}},
		{name: "too many pods", pod: pod("p").Obj(), nodes: []*corev1.Node{two},
			pods: []*corev1.Pod{pod("a").Node("two").Obj()},
			want: map[string]string{"two": "Too many pods"}},
		{name: "too many pods and cpu", pod: pod("p").Req("4", "").Obj(), nodes: []*corev1.Node{two},
			pods: []*corev1.Pod{pod("a").Req("1", "").Node("two").Obj()},
			want: map[string]string{"two": "Too many pods; Insufficient cpu"}},
		{name: "init container peak counts", pod: pod("p").Req("1", "").Init("4500m", "1Mi", false).Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient cpu"}},
		{name: "init container below containers", pod: pod("p").Req("3", "").Init("2", "1Mi", false).Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{}},
		{name: "sidecar adds to containers", pod: pod("p").Req("3", "").Init("1500m", "1Mi", true).Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient cpu"}},
		{name: "init runs beside earlier sidecars", pod: pod("p").Req("1", "").Init("1", "1Mi", true).Init("3500m", "1Mi", false).Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient cpu"}},
		{name: "overhead counts", pod: pod("p").Req("3500m", "").Overhead("600m", "1Mi").Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient cpu"}},
		{name: "zero request fits a full node", pod: pod("p").Obj(), nodes: []*corev1.Node{n1},
			pods: []*corev1.Pod{pod("a").Req("4", "8Gi").Node("n1").Obj()}, want: map[string]string{}},
		{name: "several containers sum", pod: pod("p").Req("2", "").Container("2500m", "1Mi").Obj(), nodes: []*corev1.Node{n1},
			want: map[string]string{"n1": "Insufficient cpu"}},
	})
}

func TestNodeNameFilter(t *testing.T) {
	nodes := []*corev1.Node{node("a").Obj(), node("b").Obj()}
	runFilterCases(t, NodeName{}, []filterCase{
		{name: "no nodeName", pod: pod("p").Obj(), nodes: nodes, want: map[string]string{}},
		{name: "nodeName", pod: pod("p").Node("b").Obj(), nodes: nodes, want: map[string]string{"a": ReasonNodeName}},
	})
}

func TestNodeUnschedulableFilter(t *testing.T) {
	nodes := []*corev1.Node{node("cordoned").Unschedulable().Obj(), node("open").Obj()}
	runFilterCases(t, NodeUnschedulable{}, []filterCase{
		{name: "cordoned node rejected", pod: pod("p").Obj(), nodes: nodes, want: map[string]string{"cordoned": ReasonUnschedulable}},
		{name: "toleration of the unschedulable taint", pod: pod("p").Toleration(corev1.TaintNodeUnschedulable, corev1.TolerationOpExists, "", corev1.TaintEffectNoSchedule).Obj(),
			nodes: nodes, want: map[string]string{}},
		{name: "toleration of everything", pod: pod("p").Toleration("", corev1.TolerationOpExists, "", "").Obj(), nodes: nodes, want: map[string]string{}},
	})
}

func TestTaintTolerationFilter(t *testing.T) {
	nodes := []*corev1.Node{
		node("nosched").Taint("dedicated", "gpu", corev1.TaintEffectNoSchedule).Obj(),
		node("noexec").Taint("node.kubernetes.io/not-ready", "", corev1.TaintEffectNoExecute).Obj(),
		node("prefer").Taint("soft", "x", corev1.TaintEffectPreferNoSchedule).Obj(),
		node("clean").Obj(),
	}
	untolerated := ReasonUntoleratedTaint
	runFilterCases(t, TaintToleration{}, []filterCase{
		{name: "no tolerations", pod: pod("p").Obj(), nodes: nodes, want: map[string]string{"nosched": untolerated, "noexec": untolerated}},
		{name: "equal toleration", pod: pod("p").Toleration("dedicated", corev1.TolerationOpEqual, "gpu", corev1.TaintEffectNoSchedule).Obj(),
			nodes: nodes, want: map[string]string{"noexec": untolerated}},
		{name: "equal with another value", pod: pod("p").Toleration("dedicated", corev1.TolerationOpEqual, "cpu", corev1.TaintEffectNoSchedule).Obj(),
			nodes: nodes, want: map[string]string{"nosched": untolerated, "noexec": untolerated}},
		{name: "exists any effect", pod: pod("p").Toleration("dedicated", corev1.TolerationOpExists, "", "").Obj(),
			nodes: nodes, want: map[string]string{"noexec": untolerated}},
		{name: "wrong effect", pod: pod("p").Toleration("dedicated", corev1.TolerationOpExists, "", corev1.TaintEffectNoExecute).Obj(),
			nodes: nodes, want: map[string]string{"nosched": untolerated, "noexec": untolerated}},
		{name: "tolerate all", pod: pod("p").Toleration("", corev1.TolerationOpExists, "", "").Obj(), nodes: nodes, want: map[string]string{}},
	})
}

func TestNodeAffinityFilter(t *testing.T) {
	nodes := []*corev1.Node{
		node("a").Label("disk", "ssd").Label("cores", "8").Zone("z1").Obj(),
		node("b").Label("disk", "hdd").Label("cores", "2").Zone("z2").Obj(),
		node("c").Obj(),
	}
	expr := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	no := ReasonNodeAffinity
	runFilterCases(t, NodeAffinity{}, []filterCase{
		{name: "nodeSelector", pod: pod("p").NodeSelector("disk", "ssd").Obj(), nodes: nodes, want: map[string]string{"b": no, "c": no}},
		{name: "In", pod: pod("p").RequiredNodeAffinity(expr("disk", corev1.NodeSelectorOpIn, "ssd", "nvme")).Obj(), nodes: nodes,
			want: map[string]string{"b": no, "c": no}},
		{name: "NotIn matches nodes without the label", pod: pod("p").RequiredNodeAffinity(expr("disk", corev1.NodeSelectorOpNotIn, "ssd")).Obj(), nodes: nodes,
			want: map[string]string{"a": no}},
		{name: "Exists", pod: pod("p").RequiredNodeAffinity(expr("disk", corev1.NodeSelectorOpExists)).Obj(), nodes: nodes,
			want: map[string]string{"c": no}},
		{name: "DoesNotExist", pod: pod("p").RequiredNodeAffinity(expr("disk", corev1.NodeSelectorOpDoesNotExist)).Obj(), nodes: nodes,
			want: map[string]string{"a": no, "b": no}},
		{name: "Gt", pod: pod("p").RequiredNodeAffinity(expr("cores", corev1.NodeSelectorOpGt, "4")).Obj(), nodes: nodes,
			want: map[string]string{"b": no, "c": no}},
		{name: "Lt", pod: pod("p").RequiredNodeAffinity(expr("cores", corev1.NodeSelectorOpLt, "4")).Obj(), nodes: nodes,
			want: map[string]string{"a": no, "c": no}},
		{name: "Gt with a bad operand matches nothing", pod: pod("p").RequiredNodeAffinity(expr("cores", corev1.NodeSelectorOpGt, "many")).Obj(), nodes: nodes,
			want: map[string]string{"a": no, "b": no, "c": no}},
		{name: "matchFields metadata.name", pod: pod("p").RequiredNodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
			{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{"c"}}}}).Obj(), nodes: nodes,
			want: map[string]string{"a": no, "b": no}},
		{name: "terms are ORed", pod: pod("p").RequiredNodeAffinity(expr("disk", corev1.NodeSelectorOpIn, "ssd")).
			RequiredNodeAffinity(expr(zone, corev1.NodeSelectorOpIn, "z2")).Obj(), nodes: nodes,
			want: map[string]string{"c": no}},
		{name: "requirements in a term are ANDed", pod: pod("p").RequiredNodeAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd", "hdd"}},
			{Key: zone, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"z1"}}}}).Obj(), nodes: nodes,
			want: map[string]string{"a": no, "c": no}},
		{name: "an empty term matches nothing", pod: pod("p").RequiredNodeAffinity(corev1.NodeSelectorTerm{}).Obj(), nodes: nodes,
			want: map[string]string{"a": no, "b": no, "c": no}},
		{name: "nodeSelector and affinity both apply", pod: pod("p").NodeSelector("disk", "ssd").RequiredNodeAffinity(expr(zone, corev1.NodeSelectorOpIn, "z2")).Obj(),
			nodes: nodes, want: map[string]string{"a": no, "b": no, "c": no}},
	})
}

func TestNodePortsFilter(t *testing.T) {
	nodes := []*corev1.Node{node("n").Obj()}
	used := []*corev1.Pod{pod("a").HostPort(80, corev1.ProtocolTCP, "").Node("n").Obj(), pod("b").HostPort(53, corev1.ProtocolUDP, "10.0.0.1").Node("n").Obj()}
	no := map[string]string{"n": ReasonNodePorts}
	runFilterCases(t, NodePorts{}, []filterCase{
		{name: "same port and protocol", pod: pod("p").HostPort(80, "", "").Obj(), nodes: nodes, pods: used, want: no},
		{name: "other protocol", pod: pod("p").HostPort(80, corev1.ProtocolUDP, "").Obj(), nodes: nodes, pods: used, want: map[string]string{}},
		{name: "specific IP against the wildcard", pod: pod("p").HostPort(80, corev1.ProtocolTCP, "10.0.0.2").Obj(), nodes: nodes, pods: used, want: no},
		{name: "other IP", pod: pod("p").HostPort(53, corev1.ProtocolUDP, "10.0.0.2").Obj(), nodes: nodes, pods: used, want: map[string]string{}},
		{name: "wildcard against a specific IP", pod: pod("p").HostPort(53, corev1.ProtocolUDP, "").Obj(), nodes: nodes, pods: used, want: no},
		{name: "no host ports", pod: pod("p").Obj(), nodes: nodes, pods: used, want: map[string]string{}},
	})
}

func TestPodTopologySpreadFilter(t *testing.T) {
	nodes := []*corev1.Node{
		node("a1").Zone("a").Obj(), node("a2").Zone("a").Obj(),
		node("b1").Zone("b").Obj(), node("c1").Zone("c").Obj(),
		node("nozone").Obj(),
	}
	web := func(name, n string) *corev1.Pod { return pod(name).Label("app", "web").Node(n).Obj() }
	no, label := ReasonSpreadConstraints, ReasonSpreadMissingLabel
	runFilterCases(t, PodTopologySpread{}, []filterCase{
		{name: "empty cluster: any zone", pod: pod("p").Label("app", "web").Spread(1, zone, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: nodes, want: map[string]string{"nozone": label}},
		{name: "zone a ahead by one: only b and c", pod: pod("p").Label("app", "web").Spread(1, zone, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{web("w1", "a1")},
			want: map[string]string{"a1": no, "a2": no, "nozone": label}},
		{name: "balanced: all zones", pod: pod("p").Label("app", "web").Spread(1, zone, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{web("w1", "a1"), web("w2", "b1"), web("w3", "c1")},
			want: map[string]string{"nozone": label}},
		{name: "maxSkew 2 allows one more", pod: pod("p").Label("app", "web").Spread(2, zone, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{web("w1", "a1")},
			want: map[string]string{"nozone": label}},
		{name: "pod not matching its own selector", pod: pod("p").Label("app", "other").Spread(1, zone, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{web("w1", "a1")},
			want: map[string]string{"nozone": label}},
		{name: "other namespaces do not count", pod: pod("p").Label("app", "web").Spread(1, zone, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{func() *corev1.Pod { p := web("w1", "a1"); p.Namespace = "other"; return p }()},
			want: map[string]string{"nozone": label}},
		{name: "hostname", pod: pod("p").Label("app", "web").Spread(1, corev1.LabelHostname, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{web("w1", "a1")},
			want: map[string]string{"a1": no}},
		{name: "minDomains above the domain count makes the minimum 0",
			pod:   pod("p").Label("app", "web").Spread(1, zone, corev1.DoNotSchedule, "app", "web").MinDomains(4).Obj(),
			nodes: nodes, pods: []*corev1.Pod{web("w1", "a1"), web("w2", "b1"), web("w3", "c1")},
			want: map[string]string{"a1": no, "a2": no, "b1": no, "c1": no, "nozone": label}},
		{name: "ScheduleAnyway does not filter", pod: pod("p").Label("app", "web").Spread(1, zone, corev1.ScheduleAnyway, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{web("w1", "a1")}, want: map[string]string{}},
		{name: "nodes outside the pod's node affinity do not count",
			pod:   pod("p").Label("app", "web").NodeSelector("pool", "x").Spread(1, zone, corev1.DoNotSchedule, "app", "web").Obj(),
			nodes: []*corev1.Node{node("a1").Zone("a").Label("pool", "x").Obj(), node("b1").Zone("b").Obj()},
			pods:  []*corev1.Pod{web("w1", "a1")},
			want:  map[string]string{}},
	})
}

func TestInterPodAffinityFilter(t *testing.T) {
	nodes := []*corev1.Node{node("a1").Zone("a").Obj(), node("a2").Zone("a").Obj(), node("b1").Zone("b").Obj()}
	runFilterCases(t, InterPodAffinity{}, []filterCase{
		{name: "affinity: only the zone with a cache pod",
			pod:   pod("p").PodAffinity(false, 0, zone, "app", "cache").Obj(),
			nodes: nodes, pods: []*corev1.Pod{pod("c").Label("app", "cache").Node("a2").Obj()},
			want: map[string]string{"b1": ReasonAffinity}},
		{name: "affinity: no match anywhere and not self-matching",
			pod:   pod("p").PodAffinity(false, 0, zone, "app", "cache").Obj(),
			nodes: nodes,
			want:  map[string]string{"a1": ReasonAffinity, "a2": ReasonAffinity, "b1": ReasonAffinity}},
		{name: "affinity: first pod of a self-affine group goes anywhere",
			pod:   pod("p").Label("app", "cache").PodAffinity(false, 0, zone, "app", "cache").Obj(),
			nodes: nodes, want: map[string]string{}},
		{name: "affinity: node without the topology key",
			pod:   pod("p").PodAffinity(false, 0, "rack", "app", "cache").Obj(),
			nodes: nodes, pods: []*corev1.Pod{pod("c").Label("app", "cache").Node("a2").Obj()},
			want: map[string]string{"a1": ReasonAffinity, "a2": ReasonAffinity, "b1": ReasonAffinity}},
		{name: "anti-affinity per host",
			pod:   pod("p").PodAffinity(true, 0, corev1.LabelHostname, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{pod("w").Label("app", "web").Node("a1").Obj()},
			want: map[string]string{"a1": ReasonAntiAffinity}},
		{name: "existing pod's anti-affinity keeps the pod out of its zone",
			pod:   pod("p").Label("app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{pod("x").PodAffinity(true, 0, zone, "app", "web").Node("a1").Obj()},
			want: map[string]string{"a1": ReasonExistingAntiAffinty, "a2": ReasonExistingAntiAffinty}},
		{name: "replicas with anti-affinity to each other report the pod's own rule, as Kubernetes does",
			pod:   pod("p").Label("app", "web").PodAffinity(true, 0, corev1.LabelHostname, "app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{pod("w").Label("app", "web").PodAffinity(true, 0, corev1.LabelHostname, "app", "web").Node("a1").Obj()},
			want: map[string]string{"a1": ReasonAntiAffinity}},
		{name: "affinity is reported before an existing pod's anti-affinity",
			pod:   pod("p").Label("app", "web").PodAffinity(false, 0, zone, "app", "cache").Obj(),
			nodes: nodes, pods: []*corev1.Pod{
				pod("c").Label("app", "cache").Node("a2").Obj(),
				pod("x").PodAffinity(true, 0, zone, "app", "web").Node("b1").Obj(),
			},
			want: map[string]string{"b1": ReasonAffinity}},
		{name: "existing anti-affinity in another namespace does not select the pod",
			pod:   pod("p").Label("app", "web").Obj(),
			nodes: nodes, pods: []*corev1.Pod{func() *corev1.Pod {
				p := pod("x").PodAffinity(true, 0, zone, "app", "web").Node("a1").Obj()
				p.Namespace = "other"
				return p
			}()},
			want: map[string]string{}},
	})
}
