package openapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// servedResources is roughly what berth serves; tests use it as the input.
func servedResources() []Resource {
	ns := func(group, resource, kind string, subs ...string) Resource {
		return Resource{Group: group, Version: "v1", Resource: resource, Kind: kind, Namespaced: true, Verbs: allVerbs, Subresources: subs}
	}
	cluster := func(group, resource, kind string, subs ...string) Resource {
		r := ns(group, resource, kind, subs...)
		r.Namespaced = false
		return r
	}
	return []Resource{
		ns("", "pods", "Pod", "status", "binding", "eviction", "log", "exec", "attach", "portforward", "ephemeralcontainers", "resize"),
		ns("", "services", "Service", "status", "proxy"),
		ns("", "endpoints", "Endpoints"),
		ns("", "configmaps", "ConfigMap"),
		ns("", "secrets", "Secret"),
		ns("", "serviceaccounts", "ServiceAccount", "token"),
		ns("", "events", "Event"),
		ns("", "persistentvolumeclaims", "PersistentVolumeClaim", "status"),
		ns("", "replicationcontrollers", "ReplicationController", "status", "scale"),
		cluster("", "namespaces", "Namespace", "status", "finalize"),
		cluster("", "nodes", "Node", "status", "proxy"),
		ns("apps", "deployments", "Deployment", "status", "scale"),
		ns("apps", "replicasets", "ReplicaSet", "status", "scale"),
		ns("apps", "statefulsets", "StatefulSet", "status", "scale"),
		ns("apps", "daemonsets", "DaemonSet", "status"),
		ns("apps", "controllerrevisions", "ControllerRevision"),
		ns("discovery.k8s.io", "endpointslices", "EndpointSlice"),
		ns("coordination.k8s.io", "leases", "Lease"),
		ns("events.k8s.io", "events", "Event"),
		ns("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", "status"),
		ns("policy", "poddisruptionbudgets", "PodDisruptionBudget", "status"),
	}
}

func newScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

func newTestSpec(t testing.TB) (*Spec, *runtime.Scheme) {
	t.Helper()
	scheme := newScheme(t)
	s, err := New(servedResources(), scheme.AllKnownTypes())
	if err != nil {
		t.Fatal(err)
	}
	return s, scheme
}

// serve runs s behind an httptest server and returns a discovery client
// for it, the way kubectl reaches /openapi.
func serve(t testing.TB, s *Spec) (*httptest.Server, *discovery.DiscoveryClient, *rest.Config) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/openapi/", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, dc, cfg
}
