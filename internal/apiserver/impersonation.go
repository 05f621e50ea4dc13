package apiserver

import (
	"context"
	"net/http"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Groups every authenticated user is in, and the service accounts' groups.
const (
	groupAuthenticated   = "system:authenticated"
	groupServiceAccounts = "system:serviceaccounts"
	serviceAccountPrefix = "system:serviceaccount:"
	anonymousUser        = "system:anonymous"
)

// impersonate applies a request's Impersonate-* headers (kubectl --as, --as-group,
// --as-uid) as kube-apiserver's impersonation filter does: the caller must be allowed
// the impersonate verb on each thing it asks to be — the user (a service account's
// name is checked as that serviceaccounts object), each group, the uid and each extra
// value — and the request then acts as the impersonated user alone. The built-in
// policy grants impersonation to admins only. Without headers the user is returned
// unchanged; the headers are removed once applied.
func (s *Server) impersonate(ctx context.Context, u User, h http.Header) (User, error) {
	name := h.Get(authenticationv1.ImpersonateUserHeader)
	groups := h.Values(authenticationv1.ImpersonateGroupHeader)
	uid := h.Get(authenticationv1.ImpersonateUIDHeader)
	type extra struct{ key, value string }
	var extras []extra
	for header, values := range h {
		if key, ok := strings.CutPrefix(header, authenticationv1.ImpersonateUserExtraHeaderPrefix); ok {
			for _, v := range values {
				extras = append(extras, extra{strings.ToLower(key), v})
			}
		}
	}
	if name == "" {
		if len(groups) > 0 || uid != "" || len(extras) > 0 {
			// kube-apiserver answers 500 here; it is the request that is wrong.
			return u, apierrors.NewBadRequest("impersonating groups, a uid or extra values requires impersonating a user (Impersonate-User)")
		}
		return u, nil
	}
	checks := []requestInfo{{Verb: "impersonate", Resource: "users", Name: name}}
	imp := User{Name: name}
	if ns, sa, ok := splitServiceAccount(name); ok {
		checks[0] = requestInfo{Verb: "impersonate", Resource: "serviceaccounts", Namespace: ns, Name: sa}
		if len(groups) == 0 {
			imp.Groups = []string{groupServiceAccounts, groupServiceAccounts + ":" + ns}
		}
	}
	for _, g := range groups {
		checks = append(checks, requestInfo{Verb: "impersonate", Resource: "groups", Name: g})
		imp.Groups = append(imp.Groups, g)
	}
	if uid != "" {
		checks = append(checks, requestInfo{Verb: "impersonate", Group: authenticationv1.GroupName, Resource: "uids", Name: uid})
		imp.UID = uid
	}
	for _, e := range extras {
		checks = append(checks, requestInfo{Verb: "impersonate", Group: authenticationv1.GroupName, Resource: "userextras", Subresource: e.key, Name: e.value})
		if imp.Extra == nil {
			imp.Extra = map[string][]string{}
		}
		imp.Extra[e.key] = append(imp.Extra[e.key], e.value)
	}
	for _, c := range checks {
		if !s.allowed(ctx, u, c) {
			return u, forbidden(u, c)
		}
	}
	if name != anonymousUser && !slices.Contains(imp.Groups, groupAuthenticated) {
		imp.Groups = append(imp.Groups, groupAuthenticated)
	}
	h.Del(authenticationv1.ImpersonateUserHeader)
	h.Del(authenticationv1.ImpersonateGroupHeader)
	h.Del(authenticationv1.ImpersonateUIDHeader)
	for header := range h {
		if strings.HasPrefix(header, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			h.Del(header)
		}
	}
	return imp, nil
}

// splitServiceAccount splits "system:serviceaccount:<namespace>:<name>".
func splitServiceAccount(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}
