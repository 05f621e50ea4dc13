package apiserver

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth/berth/internal/serviceaccount"
)

// TokenRequest limits, kube-apiserver's.
const (
	defaultTokenSeconds = 3600
	minTokenSeconds     = 600
	maxTokenSeconds     = 1 << 32
)

var (
	tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
	serviceAccounts  = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
)

// handleToken answers POST .../serviceaccounts/{name}/token: a token for the service
// account, bound to a pod, secret or node when the request says so, as kube-apiserver's
// TokenRequest REST storage does (with --service-account-extend-token-expiration: a
// pod-bound request for 3607 s with the API's audiences lasts a year and warns after
// 3607 s). The kubelet's projected serviceAccountToken volumes come from here.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if s.cfg.TokenSigner == nil {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	req, ok := s.readWrite(w, r, "create", tokenRequestKind, &authenticationv1.TokenRequest{})
	if !ok {
		return
	}
	tr := req.obj.(*authenticationv1.TokenRequest)
	out, err := s.issueToken(r, info, tr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, req.out, http.StatusCreated, out)
}

func (s *Server) issueToken(r *http.Request, info requestInfo, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	ctx := r.Context()
	gk := tokenRequestKind.GroupKind()
	if tr.Name != "" && tr.Name != info.Name {
		return nil, apierrors.NewInvalid(gk, info.Name, field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), tr.Name, "must match the service account name if specified")})
	}
	if tr.Namespace != "" && tr.Namespace != info.Namespace {
		// kube-apiserver's create handler refuses this before TokenRequest sees it.
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if u, ok := userFrom(ctx); ok {
		if err := s.nodeTokenRestriction(r, u, info, tr); err != nil {
			return nil, err
		}
	}
	obj, err := s.stores[serviceAccounts].Get(ctx, info.Namespace, info.Name)
	if err != nil {
		return nil, err
	}
	sa := obj.(*corev1.ServiceAccount)
	// The request may name the account by its UID (TokenRequestServiceAccountUIDValidation,
	// on since v1.34); the answer always does.
	if tr.UID != "" && tr.UID != sa.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: gk.Group, Resource: gk.Kind}, info.Name,
			fmt.Errorf("the UID in the token request (%s) does not match the UID of the service account (%s)", tr.UID, sa.UID))
	}
	tr.UID = sa.UID
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = new(int64(defaultTokenSeconds))
	}
	if len(tr.Spec.Audiences) == 0 {
		tr.Spec.Audiences = s.cfg.APIAudiences
	}
	tr.Name, tr.Namespace = sa.Name, sa.Namespace
	now := s.now()
	tr.CreationTimestamp = metav1.NewTime(now)
	tr.Status = authenticationv1.TokenRequestStatus{}
	if errs := validateTokenRequest(tr); len(errs) > 0 {
		// Unnamed, as kube-apiserver's: `TokenRequest.authentication.k8s.io "" is invalid`.
		return nil, apierrors.NewInvalid(gk, "", errs)
	}
	sreq := serviceaccount.Request{ServiceAccount: sa, Audiences: tr.Spec.Audiences}
	if err := s.boundObject(r, info, tr.Spec.BoundObjectRef, &sreq); err != nil {
		return nil, err
	}
	seconds := *tr.Spec.ExpirationSeconds
	sreq.Expires = now.Add(time.Duration(seconds) * time.Second)
	if sreq.Pod != nil && seconds == serviceaccount.WarnOnlyExpirationSeconds && s.apiAudiencesOnly(tr.Spec.Audiences) {
		sreq.WarnAfter = sreq.Expires
		sreq.Expires = now.Add(serviceaccount.ExtendedExpiration)
	}
	token, err := s.cfg.TokenSigner.Sign(sreq)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	out := tr.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(seconds) * time.Second))}
	return out, nil
}

// apiAudiencesOnly: every audience asked for is one of the API's.
func (s *Server) apiAudiencesOnly(auds []string) bool {
	for _, a := range auds {
		if !slices.Contains(s.cfg.APIAudiences, a) {
			return false
		}
	}
	return true
}

func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	switch exp := *tr.Spec.ExpirationSeconds; {
	case exp < minTokenSeconds:
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration less than 10 minutes"))
	case exp > maxTokenSeconds:
		errs = append(errs, field.Invalid(p, exp, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}

// boundObject resolves the object a token is to be bound to into req.
func (s *Server) boundObject(r *http.Request, info requestInfo, ref *authenticationv1.BoundObjectReference, req *serviceaccount.Request) error {
	if ref == nil {
		return nil
	}
	ctx := r.Context()
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid types.UID
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		obj, err := s.stores[corev1.SchemeGroupVersion.WithResource("pods")].Get(ctx, info.Namespace, ref.Name)
		if err != nil {
			return err
		}
		pod := obj.(*corev1.Pod)
		if pod.Spec.ServiceAccountName != info.Name {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", info.Name))
		}
		req.Pod, uid = pod, pod.UID
		if pod.Spec.NodeName != "" {
			// The node is information in the token; one that is gone is named without UID.
			obj, err := s.stores[corev1.SchemeGroupVersion.WithResource("nodes")].Get(ctx, "", pod.Spec.NodeName)
			switch {
			case apierrors.IsNotFound(err):
				req.Node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
			case err != nil:
				return err
			default:
				req.Node = obj.(*corev1.Node)
			}
		}
	case gvk.Group == "" && gvk.Kind == "Node":
		obj, err := s.stores[corev1.SchemeGroupVersion.WithResource("nodes")].Get(ctx, "", ref.Name)
		if err != nil {
			return err
		}
		req.Node = obj.(*corev1.Node)
		uid = req.Node.UID
	case gvk.Group == "" && gvk.Kind == "Secret":
		obj, err := s.stores[corev1.SchemeGroupVersion.WithResource("secrets")].Get(ctx, info.Namespace, ref.Name)
		if err != nil {
			return err
		}
		req.Secret = obj.(*corev1.Secret)
		uid = req.Secret.UID
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && ref.UID != uid {
		return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return nil
}

// nodeTokenRestriction limits a node's credential to tokens for pods bound to it, bound
// to that pod by name and UID, as Kubernetes' NodeRestriction admission does.
func (s *Server) nodeTokenRestriction(r *http.Request, u User, info requestInfo, tr *authenticationv1.TokenRequest) error {
	own := nodeName(u)
	if own == "" || isAdmin(u) {
		return nil
	}
	refuse := func(reason string) error {
		return apierrors.NewForbidden(serviceAccounts.GroupResource(), info.Name, fmt.Errorf("%s", reason))
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return refuse("node requested token not bound to a pod")
	}
	if ref.UID == "" {
		return refuse("node requested token with a pod binding without a uid")
	}
	obj, err := s.stores[corev1.SchemeGroupVersion.WithResource("pods")].Get(r.Context(), info.Namespace, ref.Name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	if pod.UID != ref.UID {
		return refuse(fmt.Sprintf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.NodeName != own {
		return refuse("node requested token bound to a pod scheduled on a different node")
	}
	return nil
}
