package apiserver

import (
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Access reviews (authorization.k8s.io/v1) ask berth's policy a question and store
// nothing: SelfSubjectAccessReview (kubectl auth can-i) and SelfSubjectRulesReview
// (kubectl auth can-i --list) for the caller, which every authenticated user may
// create, and SubjectAccessReview for any user, which only admins may.

// reviewResources is the discovery of authorization.k8s.io/v1.
var reviewResources = []metav1.APIResource{
	{Name: "selfsubjectaccessreviews", SingularName: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview", Verbs: metav1.Verbs{"create"}},
	{Name: "selfsubjectrulesreviews", SingularName: "selfsubjectrulesreview", Kind: "SelfSubjectRulesReview", Verbs: metav1.Verbs{"create"}},
	{Name: "subjectaccessreviews", SingularName: "subjectaccessreview", Kind: "SubjectAccessReview", Verbs: metav1.Verbs{"create"}},
}

// readReview reads the body of a create of one of resources, answered by the API server
// and never stored (access and identity reviews), after authorizing it; false when it has
// answered the request with an error.
func (s *Server) readReview(w http.ResponseWriter, r *http.Request, info requestInfo, gv schema.GroupVersion, resources []metav1.APIResource) (decodedWrite, User, schema.GroupVersionKind, bool) {
	var kind string
	for _, res := range resources {
		if res.Name == info.Resource {
			kind = res.Kind
		}
	}
	u, _ := userFrom(r.Context())
	gvk := gv.WithKind(kind)
	if kind == "" || info.Version != gv.Version || info.Namespace != "" || info.Name != "" || info.Subresource != "" {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return decodedWrite{}, u, gvk, false
	}
	if err := s.authorize(r.Context(), u, info); err != nil {
		s.writeError(w, r, err)
		return decodedWrite{}, u, gvk, false
	}
	if info.Verb != "create" {
		s.writeError(w, r, methodNotAllowed(r.Method, info))
		return decodedWrite{}, u, gvk, false
	}
	into, err := s.codecs.Scheme.New(gvk)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return decodedWrite{}, u, gvk, false
	}
	req, ok := s.readWrite(w, r, "create", gvk, into)
	return req, u, gvk, ok
}

// serveAccessReview answers a request under /apis/authorization.k8s.io/.
func (s *Server) serveAccessReview(w http.ResponseWriter, r *http.Request, info requestInfo) {
	req, u, gvk, ok := s.readReview(w, r, info, authorizationv1.SchemeGroupVersion, reviewResources)
	if !ok {
		return
	}
	kind := gvk.Kind
	var answer runtime.Object
	switch review := req.obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		errs := validateReviewSpec(review.ObjectMeta, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
		if len(errs) > 0 {
			s.writeError(w, r, apierrors.NewInvalid(gvk.GroupKind(), "", errs))
			return
		}
		review.Status = s.review(r, u, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
		answer = review
	case *authorizationv1.SubjectAccessReview:
		errs := validateReviewSpec(review.ObjectMeta, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
		if review.Spec.User == "" && len(review.Spec.Groups) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "user"), review.Spec.User, "at least one of user or group must be specified"))
		}
		if len(errs) > 0 {
			s.writeError(w, r, apierrors.NewInvalid(gvk.GroupKind(), "", errs))
			return
		}
		subject := User{Name: review.Spec.User, Groups: review.Spec.Groups}
		review.Status = s.review(r, subject, review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes)
		answer = review
	case *authorizationv1.SelfSubjectRulesReview:
		// As kube-apiserver: the answer carries the status alone.
		if review.Spec.Namespace == "" {
			s.writeError(w, r, apierrors.NewBadRequest("no namespace on request"))
			return
		}
		resources, nonResources, incomplete, reason := rulesFor(u, review.Spec.Namespace)
		answer = &authorizationv1.SelfSubjectRulesReview{Status: authorizationv1.SubjectRulesReviewStatus{
			ResourceRules: resources, NonResourceRules: nonResources, Incomplete: incomplete, EvaluationError: reason,
		}}
	default:
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("not a %s: %T", kind, req.obj)))
		return
	}
	answer.GetObjectKind().SetGroupVersionKind(gvk)
	s.writeObject(w, req.out, http.StatusCreated, answer)
}

// validateReviewSpec is Kubernetes' validation of an access review: empty metadata and
// exactly one of resource and non-resource attributes.
func validateReviewSpec(m metav1.ObjectMeta, res *authorizationv1.ResourceAttributes, nonRes *authorizationv1.NonResourceAttributes) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if res != nil && nonRes != nil {
		errs = append(errs, field.Invalid(spec.Child("nonResourceAttributes"), nonRes, "cannot be specified in combination with resourceAttributes"))
	}
	if res == nil && nonRes == nil {
		errs = append(errs, field.Invalid(spec.Child("resourceAttributes"), nonRes, "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}
	m.ManagedFields = nil
	if !apiequality.Semantic.DeepEqual(metav1.ObjectMeta{}, m) {
		errs = append(errs, field.Invalid(field.NewPath("metadata"), m, "must be empty"))
	}
	return errs
}

// review decides whether u may do what the attributes say.
func (s *Server) review(r *http.Request, u User, res *authorizationv1.ResourceAttributes, nonRes *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	var allowed bool
	if res != nil {
		allowed = s.allowed(r.Context(), u, requestInfo{
			Group: res.Group, Version: res.Version, Namespace: res.Namespace,
			Resource: res.Resource, Subresource: res.Subresource, Name: res.Name, Verb: res.Verb,
		})
	} else {
		allowed = allowedNonResource(u, nonRes.Path, nonRes.Verb)
	}
	if !allowed {
		return authorizationv1.SubjectAccessReviewStatus{}
	}
	return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: allowedReason(u)}
}

// allowedReason names the part of the policy that allows u, as RBAC names the binding.
func allowedReason(u User) string {
	for _, g := range []string{GroupMasters, GroupNodes} {
		if hasGroup(u, g) {
			return fmt.Sprintf("berth: allowed by the built-in policy of group %q", g)
		}
	}
	return `berth: allowed by the built-in policy of group "system:authenticated"`
}

// virtualGroupVersions are group versions served without stores.
var virtualGroupVersions = []schema.GroupVersion{authorizationv1.SchemeGroupVersion, authenticationv1.SchemeGroupVersion}

// virtualResources lists the discovery of a group version served without stores.
func virtualResources(gv schema.GroupVersion) []metav1.APIResource {
	switch gv {
	case authorizationv1.SchemeGroupVersion:
		return reviewResources
	case authenticationv1.SchemeGroupVersion:
		return identityResources
	}
	return nil
}
