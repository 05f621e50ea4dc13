package defaults

import (
	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
)

// PullPolicy is the imagePullPolicy Kubernetes picks for an image reference
// when none is given: Always for the tag "latest", written or implied (no
// tag and no digest), IfNotPresent otherwise. A reference that does not
// parse also gets IfNotPresent, as upstream ignores the error and leaves
// rejecting it to validation.
func PullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag follows k8s.io/kubernetes pkg/util/parsers.ParseImageName.
func imageTag(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	var tag, digest string
	if tagged, ok := named.(reference.Tagged); ok {
		tag = tagged.Tag()
	}
	if digested, ok := named.(reference.Digested); ok {
		digest = digested.Digest().String()
	}
	if tag == "" && digest == "" {
		return "latest"
	}
	return tag
}
