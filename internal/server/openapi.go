package server

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/apiserver/openapi"
	"github.com/berth/berth/internal/registry"
)

var objectVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// newOpenAPI describes the served resources; documents are generated on first request.
func newOpenAPI(resources []*registry.Resource, scheme *runtime.Scheme) (*openapi.Spec, error) {
	var described []openapi.Resource
	for _, res := range resources {
		subs := append([]string(nil), res.Subresources...)
		if res.HasStatus {
			subs = append(subs, "status")
		}
		if res.Scale != nil {
			subs = append(subs, "scale")
		}
		described = append(described, openapi.Resource{
			Group: res.GroupVersion.Group, Version: res.GroupVersion.Version, Resource: res.Name,
			Kind: res.Kind, Namespaced: res.Namespaced, Verbs: objectVerbs, Subresources: subs,
		})
	}
	spec, err := openapi.New(described, scheme.AllKnownTypes())
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return spec, nil
}
