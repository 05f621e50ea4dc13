package apiserver

import (
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTakeDisruption(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	budget := func(gen, observed int64, allowed int32) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen},
			Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: observed, DisruptionsAllowed: allowed,
				CurrentHealthy: 3, DesiredHealthy: 2},
		}
	}
	for _, tc := range []struct {
		name        string
		pdb         *policyv1.PodDisruptionBudget
		check       func(error) bool
		wantAllowed int32
		wantCond    bool
	}{
		{"not observed yet", budget(2, 1, 1), func(err error) bool {
			d, ok := apierrors.SuggestsClientDelay(err)
			return apierrors.IsTooManyRequests(err) && ok && d == 10
		}, 1, false},
		{"spent", budget(1, 1, 0), apierrors.IsTooManyRequests, 0, false},
		{"negative", budget(1, 1, -1), apierrors.IsForbidden, -1, false},
		{"one left", budget(1, 1, 1), func(err error) bool { return err == nil }, 0, true},
		{"two left", budget(1, 1, 2), func(err error) bool { return err == nil }, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := takeDisruption(tc.pdb, "web-0", now)
			if !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
			if tc.pdb.Status.DisruptionsAllowed != tc.wantAllowed {
				t.Fatalf("disruptionsAllowed = %d, want %d", tc.pdb.Status.DisruptionsAllowed, tc.wantAllowed)
			}
			if _, recorded := tc.pdb.Status.DisruptedPods["web-0"]; recorded != (err == nil) {
				t.Fatalf("disruptedPods = %v after err %v", tc.pdb.Status.DisruptedPods, err)
			}
			if got := len(tc.pdb.Status.Conditions) == 1 && tc.pdb.Status.Conditions[0].Reason == policyv1.InsufficientPodsReason; got != tc.wantCond {
				t.Fatalf("conditions = %+v", tc.pdb.Status.Conditions)
			}
		})
	}
}
