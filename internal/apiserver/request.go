package apiserver

import (
	"net/http"
	"net/url"
	"strings"
)

// requestInfo is what a resource path names.
type requestInfo struct {
	Group, Version string
	Namespace      string
	Resource       string
	Name           string
	Subresource    string
	// Verb is one of get, list, watch, create, update, patch, delete, deletecollection.
	Verb string
}

// parseResourcePath reads /api/v1/... and /apis/<group>/<version>/... paths. ok is false
// for paths that are not resource paths (discovery, health, ...).
func parseResourcePath(r *http.Request) (requestInfo, bool) {
	parts := splitPath(r.URL.Path)
	var info requestInfo
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.Version = parts[1]
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.Group, info.Version = parts[1], parts[2]
		parts = parts[3:]
	default:
		return info, false
	}
	if parts[0] == "watch" {
		// Legacy /watch/ paths.
		parts = parts[1:]
		if len(parts) == 0 {
			return info, false
		}
		info.Verb = "watch"
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = strings.Join(parts[2:], "/")
	}
	if info.Resource == "namespaces" && info.Name != "" {
		info.Namespace = ""
	}
	if info.Verb == "" {
		info.Verb = verbFor(r, info)
	}
	return info, true
}

func verbFor(r *http.Request, info requestInfo) string {
	collection := info.Name == ""
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if watchParam(r.URL.Query()) {
			return "watch"
		}
		if collection {
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if collection {
			return "deletecollection"
		}
		return "delete"
	}
	return ""
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// watchParam reads ?watch= as Kubernetes' parameter conversion does: absent, empty, "0"
// and "false" (any case) are false, anything else true.
func watchParam(q url.Values) bool {
	v, ok := q["watch"]
	if !ok || len(v) == 0 {
		return false
	}
	return !(v[0] == "" || v[0] == "0" || strings.EqualFold(v[0], "false"))
}
