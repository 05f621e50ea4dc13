package validation

import (
	"encoding/json"
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var hugeExponent = regexp.MustCompile(`[eE]-0*[0-9]{4,}`)

// FuzzValidatePod decodes arbitrary bytes as a JSON pod and runs every pod
// validator on it. Validation sees untrusted input straight from the API,
// so it must never panic, whatever the object holds. The seed corpus is in
// testdata/fuzz/FuzzValidatePod.
func FuzzValidatePod(f *testing.F) {
	if seed, err := json.Marshal(validPod()); err == nil {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// resource.ParseQuantity itself (not validation) spends minutes on
		// exponents like 1e-1000000000; decoding must bound those first.
		if hugeExponent.Match(data) {
			return
		}
		var pod corev1.Pod
		if err := json.Unmarshal(data, &pod); err != nil {
			return
		}
		_ = ValidatePod(&pod)
		old := pod.DeepCopy()
		old.ResourceVersion = "1"
		_ = ValidatePodUpdate(&pod, old)
		_ = ValidatePodUpdate(validPod(), &pod)
		_ = ValidatePodUpdate(&pod, validPod())
		_ = ValidatePodStatusUpdate(&pod, old)
		_ = ValidatePodStatusUpdate(validPod(), &pod)
		tmpl := corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}
		_ = ValidatePodTemplateSpec(&tmpl, nil)
	})
}
