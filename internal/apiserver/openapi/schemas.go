package openapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

const (
	v2DefinitionPrefix = "#/definitions/"

	extGVK           = "x-kubernetes-group-version-kind"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extMapType       = "x-kubernetes-map-type"
)

// generator turns Go API types into OpenAPI v2 definitions by reflection,
// the way upstream's openapi-gen does from source: json tags give names and
// required fields, SwaggerDoc() gives descriptions, patch tags and merge
// hints give the strategic-merge and server-side-apply extensions.
type generator struct {
	defs      spec.Definitions
	hints     *mergeHints
	wellKnown map[reflect.Type]wellKnown
	types     map[string]reflect.Type // definition name -> Go type
}

func newGenerator(hints *mergeHints) *generator {
	return &generator{
		defs:      spec.Definitions{},
		hints:     hints,
		wellKnown: wellKnownTypes(),
		types:     map[string]reflect.Type{},
	}
}

// definitionName is upstream's REST-friendly name: the Go import path with
// its host reversed, dots for slashes, then the type name
// (k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod).
func definitionName(t reflect.Type) string {
	parts := strings.Split(t.PkgPath(), "/")
	host := strings.Split(parts[0], ".")
	slices.Reverse(host)
	parts[0] = strings.Join(host, ".")
	return strings.Join(parts, ".") + "." + t.Name()
}

func refSchema(name string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(v2DefinitionPrefix + name)}}
}

// define makes sure the named type t has a definition and returns its name.
func (g *generator) define(t reflect.Type) (string, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := definitionName(t)
	if prev, ok := g.types[name]; ok {
		if prev != t {
			return "", fmt.Errorf("definition %s names both %v and %v", name, prev, t)
		}
		return name, nil
	}
	g.types[name] = t
	if wk, ok := g.wellKnown[t]; ok {
		g.defs[name] = wk.v2
		return name, nil
	}
	if t.Kind() != reflect.Struct {
		return "", fmt.Errorf("cannot define %v: not a struct", t)
	}
	s, err := g.structSchema(t, name)
	if err != nil {
		return "", err
	}
	g.defs[name] = s
	return name, nil
}

// schemaOf is the schema of a value of type t where it is used: a reference
// for named structs, an inline schema for everything else.
func (g *generator) schemaOf(t reflect.Type) (spec.Schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, ok := g.wellKnown[t]; ok || (t.Kind() == reflect.Struct && t.Name() != "") {
		name, err := g.define(t)
		return refSchema(name), err
	}
	typed := func(typ, format string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}, Format: format}}
	}
	switch t.Kind() {
	case reflect.String:
		return typed("string", ""), nil
	case reflect.Bool:
		return typed("boolean", ""), nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Int:
		return typed("integer", "int32"), nil
	case reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return typed("integer", "int64"), nil
	case reflect.Float32:
		return typed("number", "float"), nil
	case reflect.Float64:
		return typed("number", "double"), nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return typed("string", "byte"), nil
		}
		items, err := g.schemaOf(t.Elem())
		if err != nil {
			return spec.Schema{}, err
		}
		s := typed("array", "")
		s.Items = &spec.SchemaOrArray{Schema: &items}
		return s, nil
	case reflect.Map:
		values, err := g.schemaOf(t.Elem())
		if err != nil {
			return spec.Schema{}, err
		}
		s := typed("object", "")
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &values}
		return s, nil
	case reflect.Struct: // anonymous struct
		return g.structSchema(t, "")
	case reflect.Interface:
		return spec.Schema{}, nil
	default:
		return spec.Schema{}, fmt.Errorf("no OpenAPI schema for Go kind %v (%v)", t.Kind(), t)
	}
}

// jsonField is one serialized field of a struct, after flattening inlined
// (embedded) structs.
type jsonField struct {
	name          string
	goType        reflect.Type
	omitEmpty     bool
	patchStrategy string
	patchMergeKey string
	description   string
}

func (g *generator) jsonFields(t reflect.Type) []jsonField {
	docs := typeDocs(t)
	var fields []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" {
			inner := f.Type
			for inner.Kind() == reflect.Pointer {
				inner = inner.Elem()
			}
			if inner.Kind() == reflect.Struct {
				fields = append(fields, g.jsonFields(inner)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optList := strings.Split(opts, ",")
		fields = append(fields, jsonField{
			name:          name,
			goType:        f.Type,
			omitEmpty:     slices.Contains(optList, "omitempty") || slices.Contains(optList, "omitzero"),
			patchStrategy: f.Tag.Get("patchStrategy"),
			patchMergeKey: f.Tag.Get("patchMergeKey"),
			description:   docs[name],
		})
	}
	return fields
}

// typeDocs returns the descriptions of t ("" is the type itself) from the
// SwaggerDoc() method k8s.io/api generates for every API type.
func typeDocs(t reflect.Type) map[string]string {
	type swaggerDocer interface{ SwaggerDoc() map[string]string }
	if d, ok := reflect.Zero(t).Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	if d, ok := reflect.New(t).Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	return extraDoc(t)
}

func (g *generator) structSchema(t reflect.Type, name string) (spec.Schema, error) {
	s := spec.Schema{SchemaProps: spec.SchemaProps{
		Type:        spec.StringOrArray{"object"},
		Description: typeDocs(t)[""],
	}}
	for _, f := range g.jsonFields(t) {
		prop, err := g.property(name, f)
		if err != nil {
			return spec.Schema{}, fmt.Errorf("%v.%s: %w", t, f.name, err)
		}
		if s.Properties == nil {
			s.Properties = map[string]spec.Schema{}
		}
		s.Properties[f.name] = prop
		if !f.omitEmpty {
			s.Required = append(s.Required, f.name)
		}
	}
	if g.hints.structAtomic(name) {
		s.AddExtension(extMapType, "atomic")
	}
	return s, nil
}

func (g *generator) property(owner string, f jsonField) (spec.Schema, error) {
	s, err := g.schemaOf(f.goType)
	if err != nil {
		return spec.Schema{}, err
	}
	s.Description = f.description
	if f.patchStrategy != "" {
		s.AddExtension(extPatchStrategy, f.patchStrategy)
	}
	if f.patchMergeKey != "" {
		s.AddExtension(extPatchMergeKey, f.patchMergeKey)
	}
	hint := g.hints.field(owner, f.name)
	if !hint.known {
		isList := len(s.Type) == 1 && s.Type[0] == "array"
		hint = tagHint(f.patchStrategy, f.patchMergeKey, isList)
	}
	if hint.listType != "" {
		s.AddExtension(extListType, hint.listType)
	}
	if len(hint.listKeys) > 0 {
		keys := make([]any, len(hint.listKeys))
		for i, k := range hint.listKeys {
			keys[i] = k
		}
		s.AddExtension(extListMapKeys, keys)
	}
	if hint.mapType != "" {
		s.AddExtension(extMapType, hint.mapType)
	}
	if hint.defaultVal != nil {
		s.Default = hint.defaultVal
	}
	return s, nil
}

// collectRefs calls visit with the definition name of every $ref in s.
func collectRefs(s *spec.Schema, visit func(name string)) {
	if s == nil {
		return
	}
	if ref := s.Ref.String(); ref != "" {
		visit(ref[strings.LastIndex(ref, "/")+1:])
	}
	for _, p := range s.Properties {
		collectRefs(&p, visit)
	}
	if s.Items != nil {
		collectRefs(s.Items.Schema, visit)
		for i := range s.Items.Schemas {
			collectRefs(&s.Items.Schemas[i], visit)
		}
	}
	if s.AdditionalProperties != nil {
		collectRefs(s.AdditionalProperties.Schema, visit)
	}
	for i := range s.AllOf {
		collectRefs(&s.AllOf[i], visit)
	}
}
