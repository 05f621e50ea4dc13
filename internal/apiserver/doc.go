// Package apiserver is the HTTP face of berth: it authenticates requests, routes
// Kubernetes API paths to registry stores, negotiates content types (JSON, YAML,
// protobuf, Tables), applies patches and server-side apply, streams watches and serves
// discovery. It authorizes every request with berth's built-in policy (policy.go: one
// table that also answers the authorization.k8s.io access reviews behind kubectl auth
// can-i, which are computed, never stored). It never touches storage directly and holds no resource rules: those live
// in the registry. Errors become metav1.Status here and only here.
package apiserver
