package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// NewScheme returns a scheme with every served group version and the meta types.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme,
		coordinationv1.AddToScheme, discoveryv1.AddToScheme, eventsv1.AddToScheme,
		policyv1.AddToScheme, schedulingv1.AddToScheme,
		// Access reviews, TokenRequests and identity reviews: decoded and answered by the
		// API server, never stored.
		authorizationv1.AddToScheme, authenticationv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // static registration of k8s.io/api types: cannot fail
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	// Table and PartialObjectMetadata are served from meta.k8s.io/v1.
	if err := metav1.AddMetaToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Codecs bundles the serializers for a scheme.
type Codecs struct {
	Scheme *runtime.Scheme
	// Factory decodes and encodes JSON, YAML and protobuf, leniently.
	Factory serializer.CodecFactory
	// Strict rejects unknown and duplicate fields (fieldValidation=Strict).
	Strict serializer.CodecFactory
}

// NewCodecs builds the codec factories for s.
func NewCodecs(s *runtime.Scheme) *Codecs {
	return &Codecs{
		Scheme:  s,
		Factory: serializer.NewCodecFactory(s),
		Strict:  serializer.NewCodecFactory(s, serializer.EnableStrict),
	}
}
