package apiserver

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestHugeExponentGuard(t *testing.T) {
	if !holdsQuantities(&corev1.Pod{}) || !holdsQuantities(&appsv1.Deployment{}) {
		t.Fatal("pods and deployments hold quantities")
	}
	if holdsQuantities(&corev1.ConfigMap{}) {
		t.Fatal("configmaps hold no quantities: their data must not be screened")
	}
	for body, want := range map[string]bool{
		`{"cpu":"1e-1000000000"}`:                        true,
		`{"cpu":"1E999999"}`:                             true,
		`{"cpu":"1.5e+123456"}`:                          true,
		`{"cpu":"100m"}`:                                 false,
		`{"cpu":"1e3"}`:                                  false,
		`{"memory":"1e12345"}`:                           false,
		`{"cpu":1e1000000}`:                              true,
		`{"uid":"3e123456-7a2b-4c1d-9e0f-0123456789ab"}`: false,
		`{"uid":"a7c2f01b-7a2b-4c1d-9e0f-5e1234567890"}`: false,
		`{"uid":"a7c2f01b-7a2b-4c1d-9e0f-a51e12345678"}`: false,
	} {
		if got := hugeExponent.MatchString(body); got != want {
			t.Errorf("%s: match = %v, want %v", body, got, want)
		}
	}
}
