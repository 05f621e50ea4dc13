package openapi

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/schemaconv"
	"k8s.io/kube-openapi/pkg/validation/spec"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// typeConverter is managedfields.NewTypeConverter's converter with one saving: when the
// field manager tracks an update (it passes typed.AllowDuplicates), a Go-typed object is
// not walked once more just to validate it against the schema. Such an object was
// decoded into the very Go type the schema is generated from, so the walk can only find
// duplicate list keys, which AllowDuplicates accepts anyway; the comparison that follows
// walks the object with the schema in any case. Applied configurations (no options) and
// unstructured objects are validated as before. On a pod create this halves the cost of
// managed fields.
type typeConverter struct {
	types   map[schema.GroupVersionKind]*typed.ParseableType
	unknown managedfields.TypeConverter // answers for kinds without a schema, with its error
}

func newTypeConverter(defs spec.Definitions) (managedfields.TypeConverter, error) {
	models := make(map[string]*spec.Schema, len(defs))
	for name := range defs {
		def := defs[name]
		models[name] = &def
	}
	ts, err := schemaconv.ToSchemaFromOpenAPI(models, false)
	if err != nil {
		return nil, fmt.Errorf("failed to convert models to schema: %v", err)
	}
	unknown, err := managedfields.NewTypeConverter(map[string]*spec.Schema{}, false)
	if err != nil {
		return nil, err
	}
	parser := typed.Parser{Schema: smdschema.Schema{Types: ts.Types}}
	c := &typeConverter{types: map[schema.GroupVersionKind]*typed.ParseableType{}, unknown: unknown}
	for name, def := range defs {
		list, _ := def.Extensions[extGVK].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			group, _ := m["group"].(string)
			version, _ := m["version"].(string)
			kind, _ := m["kind"].(string)
			if kind == "" {
				continue
			}
			t := parser.Type(name)
			c.types[schema.GroupVersionKind{Group: group, Version: version, Kind: kind}] = &t
		}
	}
	return c, nil
}

func (c *typeConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	t := c.types[obj.GetObjectKind().GroupVersionKind()]
	if t == nil {
		return c.unknown.ObjectToTyped(obj, opts...)
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return t.FromUnstructured(u.UnstructuredContent(), opts...)
	}
	if !slices.Contains(opts, typed.AllowDuplicates) {
		return t.FromStructured(obj, opts...)
	}
	v, err := value.NewValueReflect(obj)
	if err != nil {
		return nil, fmt.Errorf("error creating struct value reflector: %v", err)
	}
	return typed.AsTypedUnvalidated(v, t.Schema, t.TypeRef), nil
}

func (c *typeConverter) TypedToObject(v *typed.TypedValue) (runtime.Object, error) {
	u, ok := v.AsValue().Unstructured().(map[string]any)
	if !ok {
		return nil, fmt.Errorf("failed to convert value to unstructured for type %T", v.AsValue().Unstructured())
	}
	return &unstructured.Unstructured{Object: u}, nil
}
