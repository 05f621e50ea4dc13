package replicaset

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestClaimerMatchesAsSelector: the claimer's matching (one lookup per equality) selects
// exactly what the selector does, for equality-only selectors and for the others it
// leaves to the selector.
func TestClaimerMatchesAsSelector(t *testing.T) {
	selectors := map[string]labels.Selector{
		"everything": labels.Everything(),
		"nothing":    labels.Nothing(),
	}
	for name, ls := range map[string]*metav1.LabelSelector{
		"matchLabels":     {MatchLabels: map[string]string{"app": "web", "pod-template-hash": "5d9f8c7b6"}},
		"one label":       {MatchLabels: map[string]string{"app": "web"}},
		"In, one value":   {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}}},
		"In, two values":  {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api"}}}},
		"NotIn":           {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}}}},
		"Exists":          {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}}},
		"DoesNotExist":    {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}},
		"labels and expr": {MatchLabels: map[string]string{"app": "web"}, MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front"}}}},
		"empty value":     {MatchLabels: map[string]string{"canary": ""}},
	} {
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		selectors[name] = s
	}
	sets := []map[string]string{
		nil,
		{},
		{"app": "web"},
		{"app": "api"},
		{"app": "web", "pod-template-hash": "5d9f8c7b6"},
		{"app": "web", "pod-template-hash": "other"},
		{"app": "web", "pod-template-hash": "5d9f8c7b6", "tier": "front"},
		{"app": "web", "tier": "back"},
		{"tier": "front"},
		{"canary": ""},
		{"canary": "yes"},
	}
	for name, s := range selectors {
		c := &Claimer{Selector: s}
		for _, set := range sets {
			if got, want := c.matches(set), s.Matches(labels.Set(set)); got != want {
				t.Errorf("%s (%s) on %v: matches = %v, selector says %v", name, s, set, got, want)
			}
		}
	}
	// The fast path is taken where it can be.
	for name, want := range map[string]bool{"matchLabels": true, "In, one value": true, "empty value": true, "everything": true,
		"In, two values": false, "NotIn": false, "Exists": false, "nothing": false, "labels and expr": true} {
		if _, ok := equalities(selectors[name]); ok != want {
			t.Errorf("%s: equalities ok = %v, want %v", name, ok, want)
		}
	}
}
