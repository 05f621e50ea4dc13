package garbagecollector

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// ignoredResources are never watched: events are many, short-lived and own nothing.
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// kindInfo locates the objects of one kind.
type kindInfo struct {
	resource   schema.GroupVersionResource
	namespaced bool
}

// resources is what discovery says the server serves.
type resources struct {
	// watched lists the preferred version of every resource that can be listed,
	// watched and deleted.
	watched []schema.GroupVersionResource
	byKind  map[schema.GroupVersionKind]kindInfo
	// byGroupKind resolves references written with another version of the group.
	byGroupKind map[schema.GroupKind]kindInfo
}

// discoverResources reads the served resources. A partial failure returns what was
// found together with the error.
func discoverResources(disc discovery.ServerResourcesInterface) (*resources, error) {
	groups, lists, err := disc.ServerGroupsAndResources()
	if len(lists) == 0 {
		if err == nil {
			err = fmt.Errorf("discovery returned no resources")
		}
		return nil, err
	}
	preferred := map[string]bool{}
	for _, g := range groups {
		preferred[g.PreferredVersion.GroupVersion] = true
	}
	r := &resources{byKind: map[schema.GroupVersionKind]kindInfo{}, byGroupKind: map[schema.GroupKind]kindInfo{}}
	for _, list := range lists {
		gv, perr := schema.ParseGroupVersion(list.GroupVersion)
		if perr != nil {
			continue
		}
		for _, res := range list.APIResources {
			if strings.Contains(res.Name, "/") {
				continue // subresource
			}
			info := kindInfo{resource: gv.WithResource(res.Name), namespaced: res.Namespaced}
			r.byKind[gv.WithKind(res.Kind)] = info
			gk := schema.GroupKind{Group: gv.Group, Kind: res.Kind}
			if _, seen := r.byGroupKind[gk]; !seen || preferred[list.GroupVersion] {
				r.byGroupKind[gk] = info
			}
			if preferred[list.GroupVersion] && !ignoredResources[info.resource.GroupResource()] && hasVerbs(res, "list", "watch", "delete") {
				r.watched = append(r.watched, info.resource)
			}
		}
	}
	return r, err
}

func hasVerbs(res metav1.APIResource, verbs ...string) bool {
	for _, v := range verbs {
		if !slices.Contains(res.Verbs, v) {
			return false
		}
	}
	return true
}

// resolve finds the resource an ownerReference's apiVersion and kind name.
func (r *resources) resolve(apiVersion, kind string) (kindInfo, bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return kindInfo{}, false
	}
	if info, ok := r.byKind[gv.WithKind(kind)]; ok {
		return info, true
	}
	info, ok := r.byGroupKind[schema.GroupKind{Group: gv.Group, Kind: kind}]
	return info, ok
}
