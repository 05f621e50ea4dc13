package apiserver

import (
	"context"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/berth/berth/internal/serviceaccount"
)

// berth's built-in policy as data, so that one table both decides requests (authorize,
// SelfSubjectAccessReview) and lists what a caller may do (SelfSubjectRulesReview).
// Admins (system:masters) may do anything. Every authenticated user may ask what it
// may do (system:basic-user in Kubernetes) and read discovery, OpenAPI, the version and
// health (system:discovery, system:public-info-viewer). Node agents (system:nodes) get
// what a kubelet needs, scoped to their own node when their credential names one
// (system:node:<name>); the shared bootstrap credential acts for any node.

// objectScope narrows a rule to some objects of its resources.
type objectScope int

const (
	anyObject objectScope = iota
	// ownNode: the object is named after the credential's node. A create may leave the
	// name to its body, which nodeRestriction checks.
	ownNode
	// podOnOwnNode: the pod is bound to the credential's node.
	podOnOwnNode
	// sharedCredential: only the bootstrap credential, which names no node.
	sharedCredential
	// namedNode: only a credential that names its node, never the shared one; the body
	// is checked further by the handler (a token for a pod bound to the node).
	namedNode
)

// resourceRule grants verbs on resources ("pods", "pods/status") of API groups.
type resourceRule struct {
	groups    []string
	resources []string
	verbs     []string
	// namespace limits the rule to one namespace ("" any, and cluster-scoped objects).
	namespace string
	scope     objectScope
}

// nonResourceRule grants verbs (lower-case HTTP methods) on paths; a path ending in
// "*" is a prefix.
type nonResourceRule struct {
	paths []string
	verbs []string
}

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "update", "patch"}
	everything = []string{"*"}
)

// basicUserRules are every authenticated user's.
var basicUserRules = []resourceRule{
	{groups: []string{authorizationv1.GroupName}, resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}, verbs: []string{"create"}},
	{groups: []string{authenticationv1.GroupName}, resources: []string{"selfsubjectreviews"}, verbs: []string{"create"}},
}

var discoveryRules = []nonResourceRule{{
	paths: []string{"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"},
	verbs: []string{"get"},
}}

// nodeRules are what a node agent needs.
var nodeRules = []resourceRule{
	{groups: []string{""}, resources: []string{"pods"}, verbs: readVerbs},
	// Deleting pods bound to this node (the end of graceful termination).
	{groups: []string{""}, resources: []string{"pods"}, verbs: []string{"delete"}, scope: podOnOwnNode},
	{groups: []string{""}, resources: []string{"pods/status"}, verbs: []string{"get"}},
	{groups: []string{""}, resources: []string{"pods/status"}, verbs: []string{"update", "patch"}, scope: podOnOwnNode},
	{groups: []string{""}, resources: []string{"services", "endpoints", "namespaces", "configmaps", "secrets", "serviceaccounts", "persistentvolumeclaims"}, verbs: readVerbs},
	{groups: []string{"discovery.k8s.io"}, resources: []string{"endpointslices"}, verbs: readVerbs},
	{groups: []string{""}, resources: []string{"nodes", "nodes/status"}, verbs: readVerbs},
	{groups: []string{""}, resources: []string{"nodes", "nodes/status"}, verbs: writeVerbs, scope: ownNode},
	{groups: []string{""}, resources: []string{"nodes", "nodes/status"}, verbs: []string{"delete"}, scope: sharedCredential},
	{groups: []string{"coordination.k8s.io"}, resources: []string{"leases"}, verbs: readVerbs, namespace: corev1.NamespaceNodeLease},
	{groups: []string{"coordination.k8s.io"}, resources: []string{"leases"}, verbs: []string{"create", "update", "patch", "delete"}, namespace: corev1.NamespaceNodeLease, scope: ownNode},
	{groups: []string{"", "events.k8s.io"}, resources: []string{"events"}, verbs: []string{"create", "update", "patch", "get", "list", "watch"}},
	// Tokens for the projected serviceAccountToken volumes of its pods.
	{groups: []string{""}, resources: []string{"serviceaccounts/token"}, verbs: []string{"create"}, scope: namedNode},
	// Not pods/eviction, nor pods/log, exec, attach, portforward: as RBAC's defaults, a
	// node never reads another pod's streams.
}

// Non-resource endpoints of berth's own: joining (the bootstrap credential) and a
// node's serving certificate.
var (
	bootstrapNonResourceRules = []nonResourceRule{{paths: []string{NodeCredentialPath}, verbs: []string{"post"}}}
	nodeNonResourceRules      = []nonResourceRule{{paths: []string{NodeServingCertPath}, verbs: []string{"post"}}}
)

func isAdmin(u User) bool { return hasGroup(u, GroupMasters) }

// resourceRulesOf are the rules that apply to u (admins need none).
func resourceRulesOf(u User) []resourceRule {
	rules := basicUserRules
	if hasGroup(u, GroupNodes) {
		rules = slices.Concat(rules, nodeRules)
	}
	return rules
}

// issuerDiscoveryRules are every service account's: the issuer's discovery documents.
var issuerDiscoveryRules = []nonResourceRule{{paths: []string{serviceaccount.OpenIDConfigurationPath, serviceaccount.JWKSPath}, verbs: []string{"get"}}}

func nonResourceRulesOf(u User) []nonResourceRule {
	rules := discoveryRules
	if hasGroup(u, groupServiceAccounts) {
		rules = slices.Concat(rules, issuerDiscoveryRules)
	}
	if hasGroup(u, GroupBootstrap) {
		rules = slices.Concat(rules, bootstrapNonResourceRules)
	}
	if hasGroup(u, GroupNodes) && nodeName(u) != "" {
		rules = slices.Concat(rules, nodeNonResourceRules)
	}
	return rules
}

// allowed decides a resource request.
func (s *Server) allowed(ctx context.Context, u User, info requestInfo) bool {
	if isAdmin(u) {
		return true
	}
	res := info.Resource
	if info.Subresource != "" {
		res += "/" + info.Subresource
	}
	for _, rule := range resourceRulesOf(u) {
		if slices.Contains(rule.groups, info.Group) && slices.Contains(rule.resources, res) && slices.Contains(rule.verbs, info.Verb) &&
			(rule.namespace == "" || rule.namespace == info.Namespace) && s.inScope(ctx, rule.scope, u, info) {
			return true
		}
	}
	return false
}

func (s *Server) inScope(ctx context.Context, scope objectScope, u User, info requestInfo) bool {
	own := nodeName(u)
	if own == "" {
		return scope != namedNode // the shared credential acts for any node
	}
	switch scope {
	case ownNode:
		return info.Name == own || (info.Verb == "create" && info.Name == "")
	case podOnOwnNode:
		return s.podOnNode(ctx, info.Namespace, info.Name, own)
	case sharedCredential:
		return false
	}
	return true
}

// allowedNonResource decides a request for a path that names no resource.
func allowedNonResource(u User, path, verb string) bool {
	if isAdmin(u) {
		return true
	}
	for _, rule := range nonResourceRulesOf(u) {
		if !slices.Contains(rule.verbs, verb) {
			continue
		}
		for _, p := range rule.paths {
			if p == path || (strings.HasSuffix(p, "*") && strings.HasPrefix(path, strings.TrimSuffix(p, "*"))) {
				return true
			}
		}
	}
	return false
}

// rulesFor lists what u may do in namespace, as RBAC's rule resolver does. Grants
// that depend on the object (a pod bound to the node) cannot be listed: the list is
// then incomplete, and the reason says why.
func rulesFor(u User, namespace string) (resources []authorizationv1.ResourceRule, nonResources []authorizationv1.NonResourceRule, incomplete bool, reason string) {
	if isAdmin(u) {
		resources = append(resources, authorizationv1.ResourceRule{Verbs: everything, APIGroups: everything, Resources: everything})
		nonResources = append(nonResources, authorizationv1.NonResourceRule{Verbs: everything, NonResourceURLs: everything})
	}
	own := nodeName(u)
	for _, rule := range resourceRulesOf(u) {
		if rule.namespace != "" && rule.namespace != namespace {
			continue
		}
		out := authorizationv1.ResourceRule{Verbs: rule.verbs, APIGroups: rule.groups, Resources: rule.resources}
		if own != "" {
			switch rule.scope {
			case ownNode:
				out.ResourceNames = []string{own}
			case podOnOwnNode, namedNode:
				incomplete = true
				reason = "some permissions of node " + own + " depend on the object (pods bound to the node) and are not listed"
				continue
			case sharedCredential:
				continue
			}
		} else if rule.scope == namedNode {
			continue
		}
		resources = append(resources, out)
	}
	for _, rule := range nonResourceRulesOf(u) {
		nonResources = append(nonResources, authorizationv1.NonResourceRule{Verbs: rule.verbs, NonResourceURLs: rule.paths})
	}
	return resources, nonResources, incomplete, reason
}
