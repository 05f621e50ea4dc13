package validation

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pdb(mutate func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	two := intstr.FromInt32(2)
	p := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestValidatePodDisruptionBudget(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	n := func(i int32) *intstr.IntOrString { v := intstr.FromInt32(i); return &v }
	policy := func(s string) *policyv1.UnhealthyPodEvictionPolicyType {
		p := policyv1.UnhealthyPodEvictionPolicyType(s)
		return &p
	}
	for _, tt := range []struct {
		name string
		pdb  *policyv1.PodDisruptionBudget
		want []want
	}{
		{"minAvailable", pdb(nil), none()},
		{"maxUnavailable percent", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable, p.Spec.MaxUnavailable = nil, pct("50%") }), none()},
		{"empty selector selects the namespace", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector = &metav1.LabelSelector{} }), none()},
		{"both bounds", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = n(1) }),
			errs(inv("spec", "minAvailable and maxUnavailable cannot be both set"))},
		{"negative", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = n(-1) }),
			errs(inv("spec.minAvailable", "must be greater than or equal to 0"))},
		{"over 100%", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = pct("101%") }),
			errs(inv("spec.minAvailable", "must not be greater than 100%"))},
		{"not a percent", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = pct("half") }),
			errs(inv("spec.minAvailable", ""))},
		{"bad selector", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector.MatchLabels = map[string]string{"a b": "c"} }),
			errs(inv("spec.selector.matchLabels", ""))},
		{"unknown eviction policy", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.UnhealthyPodEvictionPolicy = policy("Sometimes") }),
			errs(unsup("spec.unhealthyPodEvictionPolicy"))},
		{"AlwaysAllow", pdb(func(p *policyv1.PodDisruptionBudget) { p.Spec.UnhealthyPodEvictionPolicy = policy("AlwaysAllow") }), none()},
		{"bad name", pdb(func(p *policyv1.PodDisruptionBudget) { p.Name = "Web_1" }), errs(inv("metadata.name", "RFC 1123 subdomain"))},
	} {
		t.Run(tt.name, func(t *testing.T) { expectErrors(t, ValidatePodDisruptionBudget(tt.pdb), tt.want) })
	}
}

func TestValidatePodDisruptionBudgetStatusUpdate(t *testing.T) {
	old := pdb(func(p *policyv1.PodDisruptionBudget) { p.ResourceVersion = "1" })
	good := old.DeepCopy()
	good.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3}
	expectErrors(t, ValidatePodDisruptionBudgetStatusUpdate(good, old), none())
	bad := good.DeepCopy()
	bad.Status.DisruptionsAllowed = -1
	expectErrors(t, ValidatePodDisruptionBudgetStatusUpdate(bad, old), errs(inv("status.disruptionsAllowed", "must be greater than or equal to 0")))
}
