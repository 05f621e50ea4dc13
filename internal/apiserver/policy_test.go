package apiserver

import (
	"context"
	"strings"
	"testing"
)

func TestAllowed(t *testing.T) {
	s := &Server{}
	admin := User{Name: "admin", Groups: []string{GroupMasters}}
	bootstrap := User{Name: BootstrapUserName, Groups: []string{GroupBootstrap, GroupNodes}}
	n1 := User{Name: NodeUserPrefix + "n1", Groups: []string{GroupNodes}}
	someone := User{Name: "someone"}
	req := func(verb, group, resource, ns, name string) requestInfo {
		info := requestInfo{Verb: verb, Group: group, Resource: resource, Namespace: ns, Name: name}
		if r, sub, ok := strings.Cut(resource, "/"); ok {
			info.Resource, info.Subresource = r, sub
		}
		return info
	}
	tests := []struct {
		name string
		user User
		req  requestInfo
		want bool
	}{
		{"admin anything", admin, req("*", "*", "*", "", ""), true},
		{"anyone reviews itself", someone, req("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", ""), true},
		{"anyone lists its rules", someone, req("create", "authorization.k8s.io", "selfsubjectrulesreviews", "", ""), true},
		{"not others", someone, req("create", "authorization.k8s.io", "subjectaccessreviews", "", ""), false},
		{"nor pods", someone, req("get", "", "pods", "default", "p"), false},
		{"node reads pods", n1, req("list", "", "pods", "", ""), true},
		{"node deletes no pod of another node", n1, req("delete", "", "pods", "default", "p"), false},
		{"bootstrap deletes any pod", bootstrap, req("delete", "", "pods", "default", "p"), true},
		{"node updates own node", n1, req("update", "", "nodes", "", "n1"), true},
		{"node updates own node status", n1, req("patch", "", "nodes/status", "", "n1"), true},
		{"node creates a node named in the body", n1, req("create", "", "nodes", "", ""), true},
		{"node updates no other node", n1, req("update", "", "nodes", "", "n2"), false},
		{"node deletes no node", n1, req("delete", "", "nodes", "", "n1"), false},
		{"bootstrap deletes nodes", bootstrap, req("delete", "", "nodes", "", "n1"), true},
		{"node renews own lease", n1, req("update", "coordination.k8s.io", "leases", "kube-node-lease", "n1"), true},
		{"node renews no lease elsewhere", n1, req("update", "coordination.k8s.io", "leases", "default", "n1"), false},
		{"node renews no other lease", n1, req("update", "coordination.k8s.io", "leases", "kube-node-lease", "n2"), false},
		{"node records events", n1, req("create", "events.k8s.io", "events", "default", ""), true},
		{"node deletes no events", n1, req("delete", "", "events", "default", "e"), false},
		{"node reads secrets", n1, req("get", "", "secrets", "default", "s"), true},
		{"node writes no secrets", n1, req("update", "", "secrets", "default", "s"), false},
		{"node reads no logs", bootstrap, req("get", "", "pods/log", "default", "p"), false},
		{"node evicts nothing", bootstrap, req("create", "", "pods/eviction", "default", "p"), false},
		{"node creates no deployments", bootstrap, req("create", "apps", "deployments", "default", ""), false},
		{"node wildcard", bootstrap, req("*", "", "pods", "", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.allowed(context.Background(), tt.user, tt.req); got != tt.want {
				t.Errorf("allowed(%s, %+v) = %v, want %v", tt.user.Name, tt.req, got, tt.want)
			}
		})
	}
}

func TestAllowedNonResource(t *testing.T) {
	tests := []struct {
		user       User
		path, verb string
		want       bool
	}{
		{User{Groups: []string{GroupMasters}}, "/anything", "delete", true},
		{User{Name: "x"}, "/apis/apps/v1", "get", true},
		{User{Name: "x"}, "/api", "get", true},
		{User{Name: "x"}, "/apis", "post", false},
		{User{Name: "x"}, "/version/", "get", true},
		{User{Name: "x"}, "/versionx", "get", false},
		{User{Name: "x"}, NodeCredentialPath, "post", false},
		{User{Name: BootstrapUserName, Groups: []string{GroupBootstrap, GroupNodes}}, NodeCredentialPath, "post", true},
		{User{Name: BootstrapUserName, Groups: []string{GroupBootstrap, GroupNodes}}, NodeServingCertPath, "post", false},
		{User{Name: NodeUserPrefix + "n1", Groups: []string{GroupNodes}}, NodeServingCertPath, "post", true},
	}
	for _, tt := range tests {
		if got := allowedNonResource(tt.user, tt.path, tt.verb); got != tt.want {
			t.Errorf("allowedNonResource(%v, %s %s) = %v, want %v", tt.user, tt.verb, tt.path, got, tt.want)
		}
	}
}

// TestRulesMatchDecisions: every rule a node is told it has is one its requests get,
// and the grants left out are the ones that depend on the object.
func TestRulesMatchDecisions(t *testing.T) {
	s := &Server{}
	for _, u := range []User{
		{Name: NodeUserPrefix + "n1", Groups: []string{GroupNodes}},
		{Name: BootstrapUserName, Groups: []string{GroupBootstrap, GroupNodes}},
		{Name: "someone"},
	} {
		for _, ns := range []string{"default", "kube-node-lease"} {
			rules, _, incomplete, _ := rulesFor(u, ns)
			if incomplete != (nodeName(u) != "") {
				t.Errorf("%s in %s: incomplete %v", u.Name, ns, incomplete)
			}
			for _, rule := range rules {
				name := "x"
				if len(rule.ResourceNames) > 0 {
					name = rule.ResourceNames[0]
				}
				for _, group := range rule.APIGroups {
					for _, res := range rule.Resources {
						for _, verb := range rule.Verbs {
							info := requestInfo{Verb: verb, Group: group, Resource: res, Namespace: ns, Name: name}
							if r, sub, ok := strings.Cut(res, "/"); ok {
								info.Resource, info.Subresource = r, sub
							}
							if !s.allowed(context.Background(), u, info) {
								t.Errorf("%s is told it may %s %s/%s %s in %s, but may not", u.Name, verb, group, res, name, ns)
							}
						}
					}
				}
			}
		}
	}
}
