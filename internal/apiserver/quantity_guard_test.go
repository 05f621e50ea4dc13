package apiserver

import (
	"math/rand/v2"
	"regexp"
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
		if got := hasHugeExponent([]byte(body)); got != want {
			t.Errorf("%s: match = %v, want %v", body, got, want)
		}
	}
}

// hugeExponent is what hasHugeExponent must decide: a number with a six-digit (or longer)
// exponent that stands alone.
var hugeExponent = regexp.MustCompile(`(^|[^0-9A-Za-z.\-])[+-]?[0-9.]+[eE][+-]?[0-9]{6,}($|[^0-9A-Za-z\-])`)

// TestHugeExponentScanMatchesExpression compares the scanner with the expression on random
// bodies made of the characters that matter.
func TestHugeExponentScanMatchesExpression(t *testing.T) {
	const alphabet = "0123456789eE.+-a\" :,"
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 40)
	for i := 0; i < 300000; i++ {
		buf = buf[:0]
		for n := rng.IntN(40); n > 0; n-- {
			c := alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(3) > 0 {
				c = "0123456789"[rng.IntN(10)] // long digit runs are the interesting part
			}
			buf = append(buf, c)
		}
		if got, want := hasHugeExponent(buf), hugeExponent.Match(buf); got != want {
			t.Fatalf("%q: scan = %v, expression = %v", buf, got, want)
		}
	}
}

func BenchmarkHugeExponent(b *testing.B) {
	body := []byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"bench-1234","namespace":"bench","uid":"3e1a2b4c-7a2b-4c1d-9e0f-0123456789ab","resourceVersion":"123456","creationTimestamp":"2026-11-26T04:00:00Z"},"spec":{"containers":[{"name":"app","image":"app:0.3.2","resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-11-26T04:00:01Z"}]}}`)
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			hasHugeExponent(body)
		}
	})
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			hugeExponent.Match(body)
		}
	})
}
