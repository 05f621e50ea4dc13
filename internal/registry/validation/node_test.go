package validation

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{"kubernetes.io/hostname": "node-1"}},
		Spec: corev1.NodeSpec{
			PodCIDR:  "10.42.1.0/24",
			PodCIDRs: []string{"10.42.1.0/24"},
			Taints:   []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{"cpu": resource.MustParse("4"), "pods": resource.MustParse("110")},
		},
	}
}

func TestValidateNode(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []want
	}{
		{"valid", func(*corev1.Node) {}, none()},
		{"valid dual stack", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.1.0/24", "fd00:1::/64"} }, none()},
		{"namespaced", func(n *corev1.Node) { n.Namespace = "default" }, errs(forb("metadata.namespace", ""))},
		{"bad name", func(n *corev1.Node) { n.Name = "Node_1" }, errs(inv("metadata.name", ""))},
		{"bad podCIDR", func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.1.0", nil }, errs(inv("spec.podCIDR", ""))},
		{"bad podCIDRs", func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", []string{"10.42.1.0/33"} }, errs(inv("spec.podCIDRs[0]", ""))},
		{"two IPv4 podCIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.42.1.0/24", "10.42.2.0/24"} },
			errs(inv("spec.podCIDRs", "may specify no more than one CIDR for each IP family"))},
		{"podCIDR disagrees", func(n *corev1.Node) { n.Spec.PodCIDR = "10.42.9.0/24" }, errs(inv("spec.podCIDR", "must match"))},
		{"taint effect", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "NoAdmit" }, errs(unsup("spec.taints[0].effect"))},
		{"taint effect missing", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }, errs(req("spec.taints[0].effect"))},
		{"taint key invalid", func(n *corev1.Node) { n.Spec.Taints[0].Key = "a b" }, errs(inv("spec.taints[0].key", ""))},
		{"duplicate taint", func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) },
			errs(withDetail(dup("spec.taints[1]"), "taints must be unique by key and effect pair"))},
		{"negative capacity", func(n *corev1.Node) { n.Status.Capacity["memory"] = resource.MustParse("-1Gi") },
			errs(inv("status.capacity.memory", "must be greater than or equal to 0"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := validNode()
			tc.mutate(n)
			expectErrors(t, ValidateNode(n), tc.want)
		})
	}
}

func TestValidateNodeUpdate(t *testing.T) {
	old := validNode()
	old.ResourceVersion = "1"
	old.Spec.ProviderID = "berth://node-1"
	fresh := old.DeepCopy()
	fresh.Spec.PodCIDR, fresh.Spec.PodCIDRs = "", nil
	cases := []struct {
		name   string
		old    *corev1.Node
		mutate func(*corev1.Node)
		want   []want
	}{
		{"unschedulable and taints", old, func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Spec.Taints = nil
		}, none()},
		{"status change", old, func(n *corev1.Node) {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.2"}}
		}, none()},
		{"podCIDR assigned", fresh, func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.3.0/24", []string{"10.42.3.0/24"} }, none()},
		{"podCIDR changed", old, func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.3.0/24", []string{"10.42.3.0/24"} },
			errs(forb("spec.podCIDRs", "node updates may not change podCIDR except from \"\" to valid"))},
		{"providerID changed", old, func(n *corev1.Node) { n.Spec.ProviderID = "x" }, errs(forb("spec.providerID", ""))},
		{"duplicate address", old, func(n *corev1.Node) {
			a := corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.2"}
			n.Status.Addresses = []corev1.NodeAddress{a, a}
		}, errs(dup("status.addresses[1]"))},
		{"bad taint", old, func(n *corev1.Node) { n.Spec.Taints[0].Effect = "X" }, errs(unsup("spec.taints[0].effect"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.old.DeepCopy()
			tc.mutate(n)
			expectErrors(t, ValidateNodeUpdate(n, tc.old), tc.want)
		})
	}
}

func TestValidateNamespace(t *testing.T) {
	cases := []struct {
		name string
		ns   corev1.Namespace
		want []want
	}{
		{"valid", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}, none()},
		{"not a DNS label", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}, errs(inv("metadata.name", "must not contain dots"))},
		{"too long", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a123456789012345678901234567890123456789012345678901234567890123"}}, errs(inv("metadata.name", ""))},
		{"bad finalizer", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"cleanup"}}},
			errs(inv("spec.finalizers[0]", "name is neither a standard finalizer name nor is it fully qualified"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, ValidateNamespace(&tc.ns), tc.want)
		})
	}
}

func TestValidateNamespaceUpdates(t *testing.T) {
	old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "1"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	t.Run("update labels", func(t *testing.T) {
		ns := old.DeepCopy()
		ns.Labels = map[string]string{"team": "a"}
		expectErrors(t, ValidateNamespaceUpdate(ns, old), none())
		ns.Name = "team-b"
		expectErrors(t, ValidateNamespaceUpdate(ns, old), errs(inv("metadata.name", "field is immutable")))
	})
	t.Run("status terminating without deletion", func(t *testing.T) {
		ns := old.DeepCopy()
		ns.Status.Phase = corev1.NamespaceTerminating
		expectErrors(t, ValidateNamespaceStatusUpdate(ns, old), errs(inv("status.phase", "may only be 'Active' if `deletionTimestamp` is empty")))
	})
	t.Run("status active while deleting", func(t *testing.T) {
		deleting := old.DeepCopy()
		now := metav1.NewTime(time.Unix(100, 0))
		deleting.DeletionTimestamp = &now
		ns := deleting.DeepCopy()
		expectErrors(t, ValidateNamespaceStatusUpdate(ns, deleting), errs(inv("status.phase", "may only be 'Terminating'")))
		ns.Status.Phase = corev1.NamespaceTerminating
		expectErrors(t, ValidateNamespaceStatusUpdate(ns, deleting), none())
	})
	t.Run("finalize", func(t *testing.T) {
		ns := old.DeepCopy()
		ns.Spec.Finalizers = []corev1.FinalizerName{"example.com/x"}
		expectErrors(t, ValidateNamespaceFinalizeUpdate(ns, old), none())
		ns.Spec.Finalizers = []corev1.FinalizerName{"a b"}
		expectErrors(t, ValidateNamespaceFinalizeUpdate(ns, old), errs(inv("spec.finalizers[0]", ""), inv("spec.finalizers[0]", "")))
	})
}
