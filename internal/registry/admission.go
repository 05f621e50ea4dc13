package registry

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
)

// AdmitFunc is one admission step (Admission.Mutate or Admission.Validate).
type AdmitFunc = func(ctx context.Context, obj, old runtime.Object) error

// Mutators chains admission steps: each runs on what the previous ones made, in order,
// and the first error refuses the write, as kube-apiserver's mutating admission chain.
// Nil steps (a disabled plugin) are skipped.
func Mutators(steps ...AdmitFunc) AdmitFunc {
	return func(ctx context.Context, obj, old runtime.Object) error {
		for _, step := range steps {
			if step == nil {
				continue
			}
			if err := step(ctx, obj, old); err != nil {
				return err
			}
		}
		return nil
	}
}
