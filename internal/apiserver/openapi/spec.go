package openapi

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/openapiconv"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Resource is one served resource as discovery lists it.
type Resource struct {
	Group, Version, Resource, Kind string
	Namespaced                     bool
	// Verbs as in discovery: get, list, watch, create, update, patch,
	// delete, deletecollection.
	Verbs []string
	// Subresources by name: status, scale, binding, eviction, log, exec,
	// attach, portforward, proxy, ephemeralcontainers, resize, finalize,
	// token. Others are refused by New.
	Subresources []string
}

// Spec documents a fixed set of resources. It is cheap to create; the
// documents are generated on first use (or Warm) and kept.
type Spec struct {
	resources []Resource
	types     map[schema.GroupVersionKind]reflect.Type

	once  sync.Once
	state *state
	err   error

	converterOnce sync.Once
	converter     managedfields.TypeConverter
	converterErr  error
}

// state is everything generated, immutable once built.
type state struct {
	defs      spec.Definitions // every definition, in v2 form
	v2        *document
	v3        map[string]*document // by prefix: "api/v1", "apis/apps/v1"
	discovery *document
}

// New checks resources against types (every Kind and, when listed, its
// <Kind>List must have a Go type; subresources that carry another kind need
// that kind too) and returns a Spec that generates lazily. types is usually
// scheme.AllKnownTypes().
func New(resources []Resource, types map[schema.GroupVersionKind]reflect.Type) (*Spec, error) {
	var errs []error
	for _, r := range resources {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		if r.Version == "" || r.Resource == "" || r.Kind == "" {
			errs = append(errs, fmt.Errorf("resource %+v: version, resource and kind are required", r))
			continue
		}
		if _, ok := types[gv.WithKind(r.Kind)]; !ok {
			errs = append(errs, fmt.Errorf("resource %s: no Go type for %v", r.Resource, gv.WithKind(r.Kind)))
		}
		if slices.Contains(r.Verbs, "list") {
			if _, ok := types[gv.WithKind(r.Kind+"List")]; !ok {
				errs = append(errs, fmt.Errorf("resource %s: no Go type for %v", r.Resource, gv.WithKind(r.Kind+"List")))
			}
		}
		for _, name := range r.Subresources {
			sub, ok := knownSubresource(name)
			if !ok {
				errs = append(errs, fmt.Errorf("resource %s: unknown subresource %q", r.Resource, name))
				continue
			}
			if _, ok := types[sub.kind]; !sub.kind.Empty() && !ok {
				errs = append(errs, fmt.Errorf("resource %s: subresource %s needs a Go type for %v", r.Resource, name, sub.kind))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Spec{
		resources: slices.Clone(resources),
		types:     make(map[schema.GroupVersionKind]reflect.Type, len(types)),
	}
	for gvk, t := range types {
		s.types[gvk] = t
	}
	return s, nil
}

// Warm generates the definitions and paths now instead of on first use (the
// serialized documents stay lazy). It is safe to call concurrently and
// repeatedly; every call returns the same result.
func (s *Spec) Warm() error {
	_, err := s.get()
	return err
}

func (s *Spec) get() (*state, error) {
	s.once.Do(func() { s.state, s.err = s.build() })
	return s.state, s.err
}

// TypeConverter converts every served kind to structured-merge-diff typed
// values, for managedfields.NewDefaultFieldManager (server-side apply).
func (s *Spec) TypeConverter() (managedfields.TypeConverter, error) {
	s.converterOnce.Do(func() {
		st, err := s.get()
		if err != nil {
			s.converterErr = err
			return
		}
		s.converter, s.converterErr = newTypeConverter(st.defs)
	})
	return s.converter, s.converterErr
}

func (s *Spec) build() (*state, error) {
	hints, err := loadMergeHints()
	if err != nil {
		return nil, err
	}
	gen := newGenerator(hints)
	paths, err := newPathBuilder(gen, s.types)
	if err != nil {
		return nil, err
	}
	byGV := map[schema.GroupVersion]map[string]spec.PathItem{}
	for _, r := range s.resources {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		if byGV[gv] == nil {
			byGV[gv] = map[string]spec.PathItem{}
		}
		paths.paths = byGV[gv]
		if err := paths.resource(r); err != nil {
			return nil, err
		}
	}
	s.addGroupVersionKinds(gen, byGV)

	st := &state{defs: gen.defs, v3: map[string]*document{}}
	all := &spec.Paths{Paths: map[string]spec.PathItem{}}
	for gv, gvPaths := range byGV {
		for p, item := range gvPaths {
			all.Paths[p] = item
		}
		swagger := newSwagger(&spec.Paths{Paths: gvPaths}, reachable(gen.defs, gvPaths))
		st.v3[prefix(gv)] = newDocument(func() (any, error) { return v3Document(swagger, gen.wellKnown, gen.types), nil }, v3Proto)
	}
	st.v2 = newDocument(func() (any, error) { return newSwagger(all, gen.defs), nil }, v2Proto)
	st.discovery = newDocument(func() (any, error) { return v3Index(st.v3) }, nil)
	return st, nil
}

// addGroupVersionKinds marks each definition with the kinds it is served as
// in the served group versions: what kubectl and the type converter look up
// a kind by.
func (s *Spec) addGroupVersionKinds(gen *generator, served map[schema.GroupVersion]map[string]spec.PathItem) {
	byName := map[string][]schema.GroupVersionKind{}
	for gvk, t := range s.types {
		if gvk.Version == runtime.APIVersionInternal || served[gvk.GroupVersion()] == nil {
			continue
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		name := definitionName(t)
		if gen.types[name] == t {
			byName[name] = append(byName[name], gvk)
		}
	}
	for name, gvks := range byName {
		slices.SortFunc(gvks, func(a, b schema.GroupVersionKind) int {
			return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Kind, b.Kind))
		})
		list := make([]any, len(gvks))
		for i, gvk := range gvks {
			list[i] = map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
		}
		def := gen.defs[name]
		def.Extensions = cloneExtensions(def.Extensions)
		def.AddExtension(extGVK, list)
		gen.defs[name] = def
	}
}

func cloneExtensions(e spec.Extensions) spec.Extensions {
	out := make(spec.Extensions, len(e)+1)
	for k, v := range e {
		out[k] = v
	}
	return out
}

// reachable is the subset of defs that paths refer to, directly or not.
func reachable(defs spec.Definitions, paths map[string]spec.PathItem) spec.Definitions {
	out := spec.Definitions{}
	var visit func(name string)
	visit = func(name string) {
		if _, done := out[name]; done {
			return
		}
		def, ok := defs[name]
		if !ok {
			return
		}
		out[name] = def
		collectRefs(&def, visit)
	}
	for _, item := range paths {
		for _, op := range []*spec.Operation{item.Get, item.Put, item.Post, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			for _, p := range op.Parameters {
				collectRefs(p.Schema, visit)
			}
			for _, r := range op.Responses.StatusCodeResponses {
				collectRefs(r.Schema, visit)
			}
		}
	}
	return out
}

func newSwagger(paths *spec.Paths, defs spec.Definitions) *spec.Swagger {
	return &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}},
		Paths:       paths,
		Definitions: defs,
	}}
}

// v3Document converts one group version's v2 document the way
// kube-apiserver's aggregator does ($refs with siblings wrapped in allOf),
// then gives the well-known scalar types their v3-only oneOf schemas.
func v3Document(swagger *spec.Swagger, wellKnown map[reflect.Type]wellKnown, types map[string]reflect.Type) *spec3.OpenAPI {
	doc := openapiconv.ConvertV2ToV3(swagger)
	doc.Version = "3.0.0"
	for name, def := range doc.Components.Schemas {
		wk, ok := wellKnown[types[name]]
		if !ok || len(wk.v3OneOf) == 0 {
			continue
		}
		oneOf := make([]spec.Schema, len(wk.v3OneOf))
		for i, typ := range wk.v3OneOf {
			oneOf[i] = spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}}}
		}
		v3 := *def
		v3.Type, v3.OneOf = nil, oneOf
		doc.Components.Schemas[name] = &v3
	}
	return doc
}
