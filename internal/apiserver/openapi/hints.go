package openapi

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

// mergeHints holds what the Go types cannot tell by reflection: the
// +listType/+listMapKey/+mapType/+structType markers and +default values of
// the upstream types. Upstream publishes the same facts in the structured
// merge schema that client-go's apply configurations are generated with, so
// that schema is the source; types it does not know fall back to struct tags.
type mergeHints struct {
	types map[string]*smdschema.Map // definition name -> struct
}

// fieldHint is the merge semantics of one field of one struct.
type fieldHint struct {
	known      bool
	listType   string // "atomic", "set" or "map"; "" when not a list
	listKeys   []string
	mapType    string // "atomic" for +mapType=atomic maps and +structType=atomic refs
	defaultVal any
}

// loadMergeHints reads client-go's apply-configuration schema. client-go does
// not export it, but every TypedValue it produces carries it, so one
// conversion of an empty Pod yields the whole schema (≈ 80 ms, parsed once
// per process by client-go and shared with anything else that uses it).
func loadMergeHints() (*mergeHints, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	converter := applyconfigurations.NewTypeConverter(scheme)
	typed, err := converter.ObjectToTyped(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}})
	if err != nil {
		return nil, fmt.Errorf("reading upstream merge schema: %w", err)
	}
	schema := typed.Schema()
	hints := &mergeHints{types: make(map[string]*smdschema.Map, len(schema.Types))}
	for i := range schema.Types {
		def := &schema.Types[i]
		if def.Map != nil {
			hints.types[def.Name] = def.Map
		}
	}
	return hints, nil
}

// structAtomic reports whether the named struct is +structType=atomic.
func (h *mergeHints) structAtomic(defName string) bool {
	if h == nil {
		return false
	}
	m, ok := h.types[defName]
	return ok && m.ElementRelationship == smdschema.Atomic
}

// field returns the merge semantics upstream declares for field of defName.
func (h *mergeHints) field(defName, field string) fieldHint {
	if h == nil {
		return fieldHint{}
	}
	m, ok := h.types[defName]
	if !ok {
		return fieldHint{}
	}
	for i := range m.Fields {
		f := &m.Fields[i]
		if f.Name != field {
			continue
		}
		hint := fieldHint{known: true, defaultVal: jsonValue(f.Default)}
		if f.Type.NamedType != nil {
			if f.Type.ElementRelationship != nil && *f.Type.ElementRelationship == smdschema.Atomic {
				hint.mapType = "atomic"
			}
			return hint
		}
		switch atom := f.Type.Inlined; {
		case atom.List != nil:
			hint.listType = listType(atom.List)
			hint.listKeys = atom.List.Keys
		case atom.Map != nil:
			if atom.Map.ElementRelationship == smdschema.Atomic {
				hint.mapType = "atomic"
			}
		}
		return hint
	}
	return fieldHint{}
}

func listType(l *smdschema.List) string {
	switch {
	case l.ElementRelationship == smdschema.Associative && len(l.Keys) > 0:
		return "map"
	case l.ElementRelationship == smdschema.Associative:
		return "set"
	default:
		return "atomic"
	}
}

// tagHint derives list semantics from the strategic-merge-patch struct tags,
// for types the upstream schema does not cover: a merge key makes a map keyed
// by it, a merge strategy without key a set, anything else is atomic.
func tagHint(patchStrategy, patchMergeKey string, isList bool) fieldHint {
	if !isList {
		return fieldHint{}
	}
	switch {
	case patchMergeKey != "":
		return fieldHint{listType: "map", listKeys: []string{patchMergeKey}}
	case patchStrategy == "merge":
		return fieldHint{listType: "set"}
	default:
		return fieldHint{listType: "atomic"}
	}
}

// jsonValue turns a YAML-decoded value (maps keyed by interface{}) into one
// encoding/json can marshal.
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	default:
		return v
	}
}
