// Package registry holds the rules of every served resource (what a Pod or a Deployment
// is, how it is defaulted, validated and stored) and the generic store that applies them
// over storage.Interface. It knows no HTTP: the apiserver package decodes requests and
// calls a Store; the Store returns API errors (k8s.io/apimachinery/pkg/api/errors).
package registry
