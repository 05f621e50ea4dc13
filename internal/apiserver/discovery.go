package apiserver

import (
	"net/http"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth/berth/internal/registry"
)

var (
	objectVerbs      = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	subresourceVerbs = metav1.Verbs{"get", "patch", "update"}
)

// verbsOf lists the verbs a resource serves: all but deletecollection for namespaces,
// which Kubernetes deletes one by one.
func verbsOf(res *registry.Resource) metav1.Verbs {
	if !servesDeleteCollection(res) {
		return metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
	}
	return objectVerbs
}

func servesDeleteCollection(res *registry.Resource) bool {
	return !(res.GroupVersion.Group == "" && res.Name == "namespaces")
}

func (s *Server) serveLegacyVersions(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api" {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	out := s.outputFor(mediaJSON, outputObject)
	if o, err := s.negotiateOutput(r); err == nil && o.Kind == outputObject {
		out = o
	}
	s.writeObject(w, out, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{
			ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host,
		}},
	})
}

func (s *Server) apiGroup(name string) metav1.APIGroup {
	versions := append([]string(nil), s.groups[name]...)
	sort.Strings(versions)
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: name}
	for _, v := range versions {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

func (s *Server) groupNames() []string {
	var names []string
	for g := range s.groups {
		if g != "" {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	return names
}

func (s *Server) serveGroupList(w http.ResponseWriter, r *http.Request) {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range s.groupNames() {
		list.Groups = append(list.Groups, s.apiGroup(g))
	}
	s.writeDiscovery(w, r, list)
}

func (s *Server) writeDiscovery(w http.ResponseWriter, r *http.Request, obj interface{ GetObjectKind() schema.ObjectKind }) {
	out := s.outputFor(mediaJSON, outputObject)
	if o, err := s.negotiateOutput(r); err == nil && o.Kind == outputObject {
		out = o
	}
	switch v := obj.(type) {
	case *metav1.APIGroupList:
		s.writeObject(w, out, http.StatusOK, v)
	case *metav1.APIGroup:
		s.writeObject(w, out, http.StatusOK, v)
	case *metav1.APIResourceList:
		s.writeObject(w, out, http.StatusOK, v)
	}
}

// serveDiscovery answers /apis/<group> and /api/v1, /apis/<group>/<version>; ok is false
// when the path is not a discovery path.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, parts []string) bool {
	switch {
	case len(parts) == 2 && parts[0] == "api":
		if _, ok := s.groups[""]; !ok || parts[1] != "v1" {
			return false
		}
		s.writeDiscovery(w, r, s.resourceList(schema.GroupVersion{Version: parts[1]}))
		return true
	case len(parts) == 2 && parts[0] == "apis":
		if _, ok := s.groups[parts[1]]; !ok {
			return false
		}
		g := s.apiGroup(parts[1])
		s.writeDiscovery(w, r, &g)
		return true
	case len(parts) == 3 && parts[0] == "apis":
		if !contains(s.groups[parts[1]], parts[2]) {
			return false
		}
		s.writeDiscovery(w, r, s.resourceList(schema.GroupVersion{Group: parts[1], Version: parts[2]}))
		return true
	}
	return false
}

func (s *Server) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for gvr, st := range s.stores {
		if gvr.GroupVersion() != gv {
			continue
		}
		res := st.Res
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Name, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: verbsOf(res), ShortNames: res.ShortNames, Categories: res.Categories,
		})
		if res.HasStatus {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: res.Name + "/status", Namespaced: res.Namespaced, Kind: res.Kind, Verbs: subresourceVerbs})
		}
		if res.Scale != nil {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: res.Name + "/scale", Namespaced: res.Namespaced, Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: subresourceVerbs})
		}
		for _, sub := range res.Subresources {
			r := metav1.APIResource{Name: res.Name + "/" + sub, Namespaced: res.Namespaced, Kind: res.Kind, Verbs: metav1.Verbs{"create"}}
			switch sub {
			case "binding":
				r.Kind = "Binding"
			case "finalize":
				r.Verbs = metav1.Verbs{"update"}
			case "eviction":
				r.Group, r.Version, r.Kind = "policy", "v1", "Eviction"
			case "token":
				r.Group, r.Version, r.Kind = "authentication.k8s.io", "v1", "TokenRequest"
			case "log":
				r.Kind, r.Verbs = "Pod", metav1.Verbs{"get"}
			case "exec", "attach", "portforward":
				r.Kind, r.Verbs = "PodExecOptions", metav1.Verbs{"create", "get"}
				if sub == "attach" {
					r.Kind = "PodAttachOptions"
				}
				if sub == "portforward" {
					r.Kind = "PodPortForwardOptions"
				}
			}
			list.APIResources = append(list.APIResources, r)
		}
	}
	list.APIResources = append(list.APIResources, virtualResources(gv)...)
	sort.Slice(list.APIResources, func(i, j int) bool { return list.APIResources[i].Name < list.APIResources[j].Name })
	return list
}
