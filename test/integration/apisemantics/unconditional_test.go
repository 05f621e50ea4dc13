package apisemantics

import (
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coordinationapply "k8s.io/client-go/applyconfigurations/coordination/v1"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/test/integration/framework"
)

// A Lease is updated only with its resourceVersion (Kubernetes' lease strategy does not
// allow unconditional updates); patches and apply work on the stored version; other
// resources still take a PUT without one.
func TestLeaseUpdateNeedsResourceVersion(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := t.Context()
	leases := c.Client.CoordinationV1().Leases("default")
	created, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "l"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("a")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	blind := created.DeepCopy()
	blind.ResourceVersion = ""
	blind.Spec.HolderIdentity = ptr.To("b")
	_, err = leases.Update(ctx, blind, metav1.UpdateOptions{})
	want := `leases.coordination.k8s.io "l" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update`
	if !apierrors.IsInvalid(err) || err.Error() != want {
		t.Fatalf("update without resourceVersion: %v\nwant 422 %s", err, want)
	}

	withRV := created.DeepCopy()
	withRV.Spec.HolderIdentity = ptr.To("b")
	updated, err := leases.Update(ctx, withRV, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update with resourceVersion: %v", err)
	}
	patched, err := leases.Patch(ctx, "l", types.MergePatchType, []byte(`{"spec":{"holderIdentity":"c"}}`), metav1.PatchOptions{})
	if err != nil || *patched.Spec.HolderIdentity != "c" || patched.ResourceVersion == updated.ResourceVersion {
		t.Fatalf("merge patch: %v %v", patched, err)
	}
	applied, err := leases.Apply(ctx, coordinationapply.Lease("l", "default").WithSpec(coordinationapply.LeaseSpec().WithLeaseDurationSeconds(40)),
		metav1.ApplyOptions{FieldManager: "test", Force: true})
	if err != nil || *applied.Spec.LeaseDurationSeconds != 40 {
		t.Fatalf("apply: %v %v", applied, err)
	}

	// A missing lease is still created by a PUT without one.
	if _, err := leases.Update(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("PUT of a missing lease: %v", err)
	}
	// Other resources allow unconditional updates, as in Kubernetes.
	cms := c.Client.CoreV1().ConfigMaps("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": "v"}}, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("configmap update without resourceVersion: %v", err)
	}
	// kubectl replace fills in the server's resourceVersion when the file has none (its
	// Helper.Replace with overwrite), so it works on a Lease as against Kubernetes.
	res := c.KubectlStdin(t, "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\n  namespace: default\nspec:\n  holderIdentity: d\n", "replace", "-f", "-")
	if res.Err != nil || !strings.Contains(res.Stdout, "lease.coordination.k8s.io/l replaced") {
		t.Fatalf("kubectl replace of a lease: %v\n%s%s", res.Err, res.Stdout, res.Stderr)
	}
}
