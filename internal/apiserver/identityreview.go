package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/serviceaccount"
)

// authentication.k8s.io/v1 reviews, answered and never stored: SelfSubjectReview
// (kubectl auth whoami) tells any authenticated caller who it is; TokenReview (admins
// only: webhook authenticators) says whom a bearer token speaks for.

var identityResources = []metav1.APIResource{
	{Name: "selfsubjectreviews", SingularName: "selfsubjectreview", Kind: "SelfSubjectReview", Verbs: metav1.Verbs{"create"}},
	{Name: "tokenreviews", SingularName: "tokenreview", Kind: "TokenReview", Verbs: metav1.Verbs{"create"}},
}

// serveIdentityReview answers a request under /apis/authentication.k8s.io/.
func (s *Server) serveIdentityReview(w http.ResponseWriter, r *http.Request, info requestInfo) {
	req, u, gvk, ok := s.readReview(w, r, info, authenticationv1.SchemeGroupVersion, identityResources)
	if !ok {
		return
	}
	kind := gvk.Kind
	var answer runtime.Object
	switch review := req.obj.(type) {
	case *authenticationv1.SelfSubjectReview:
		// A new object, as kube-apiserver's: nothing of the request comes back.
		answer = &authenticationv1.SelfSubjectReview{
			ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(s.now())},
			Status:     authenticationv1.SelfSubjectReviewStatus{UserInfo: userInfo(u)},
		}
	case *authenticationv1.TokenReview:
		if review.Spec.Token == "" {
			s.writeError(w, r, apierrors.NewBadRequest("token is required for TokenReview in authentication"))
			return
		}
		review.Status = s.reviewToken(r.Context(), review.Spec)
		answer = review
	default:
		s.writeError(w, r, apierrors.NewBadRequest("unexpected "+kind))
		return
	}
	answer.GetObjectKind().SetGroupVersionKind(gvk)
	s.writeObject(w, req.out, http.StatusCreated, answer)
}

func userInfo(u User) authenticationv1.UserInfo {
	info := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	for k, v := range u.Extra {
		if info.Extra == nil {
			info.Extra = map[string]authenticationv1.ExtraValue{}
		}
		info.Extra[k] = v
	}
	return info
}

// reviewToken authenticates spec.token as a request carrying it would be, for the
// audiences the review names (the API's when it names none), as kube-apiserver's
// TokenReview: status.audiences, those of spec.audiences the token is for, only when the
// review names some.
func (s *Server) reviewToken(ctx context.Context, spec authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus {
	refused := authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
	if s.cfg.Authenticate == nil {
		return refused
	}
	auds := &serviceaccount.Audiences{Want: spec.Audiences}
	if len(auds.Want) == 0 {
		auds.Want = s.cfg.APIAudiences
	}
	r, err := http.NewRequestWithContext(serviceaccount.WithAudiences(ctx, auds), http.MethodGet, "/", nil)
	if err != nil {
		return refused
	}
	r.Header.Set("Authorization", "Bearer "+spec.Token)
	u, ok := s.cfg.Authenticate(r)
	if !ok {
		return refused
	}
	if auds.Got == nil {
		// Not a service account token: its authenticator knows no audiences, and the
		// credential is good for the API's alone (kube-apiserver's audience-agnostic wrap).
		for _, a := range auds.Want {
			if slices.Contains(s.cfg.APIAudiences, a) {
				auds.Got = append(auds.Got, a)
			}
		}
		if len(auds.Got) == 0 {
			return authenticationv1.TokenReviewStatus{Error: fmt.Sprintf("token audiences %q is invalid for the target audiences %q", s.cfg.APIAudiences, auds.Want)}
		}
	}
	if !slices.Contains(u.Groups, groupAuthenticated) {
		u.Groups = append(slices.Clip(u.Groups), groupAuthenticated)
	}
	status := authenticationv1.TokenReviewStatus{Authenticated: true, User: userInfo(u)}
	if len(spec.Audiences) > 0 {
		status.Audiences = auds.Got
	}
	return status
}

// serveIssuerDocument serves one of the service account issuer's discovery documents
// to those the policy lets read it (kube-apiserver's
// system:service-account-issuer-discovery role, bound to every service account).
func (s *Server) serveIssuerDocument(doc []byte, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if doc == nil {
			s.writeError(w, r, notFoundPath(r.URL.Path))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.writeError(w, r, apierrors.NewMethodNotSupported(s.noGroup(), r.Method))
			return
		}
		if u, _ := userFrom(r.Context()); !allowedNonResource(u, r.URL.Path, "get") {
			s.writeError(w, r, apierrors.NewForbidden(s.noGroup(), "", fmt.Errorf("User %q cannot get path %q", u.Name, r.URL.Path)))
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(doc)
	}
}
