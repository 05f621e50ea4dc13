package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

// quantityEqual compares quantities by value: rounding may change their
// internal form without changing what they mean.
var quantityEqual = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// checkDefaults applies Apply to a copy of in and compares with want, then
// applies it again and checks nothing more changed.
func checkDefaults(t *testing.T, in, want runtime.Object) {
	t.Helper()
	got := in.DeepCopyObject()
	Apply(got)
	if diff := cmp.Diff(want, got, quantityEqual); diff != "" {
		t.Fatalf("defaults mismatch (-want +got):\n%s", diff)
	}
	again := got.DeepCopyObject()
	Apply(again)
	if diff := cmp.Diff(got, again, quantityEqual); diff != "" {
		t.Fatalf("second Apply changed the object (-first +second):\n%s", diff)
	}
}

// checkUnchanged asserts that Apply leaves a fully specified object alone:
// explicit values always win over defaults.
func checkUnchanged(t *testing.T, in runtime.Object) {
	t.Helper()
	checkDefaults(t, in, in.DeepCopyObject())
}
