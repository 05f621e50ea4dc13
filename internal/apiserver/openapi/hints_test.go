package openapi

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/applyconfigurations"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
)

var updateHints = flag.Bool("update", false, "rewrite mergehints.json from client-go's schema")

// TestEmbeddedMergeHints: the embedded digest says exactly what client-go's apply
// schema says, for every struct and field (run with -update after a client-go bump).
func TestEmbeddedMergeHints(t *testing.T) {
	upstream, err := upstreamMergeHints()
	if err != nil {
		t.Fatal(err)
	}
	if *updateHints {
		data, err := json.Marshal(upstream.file())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("mergehints.json", append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Skip("mergehints.json rewritten; run again without -update")
	}
	embedded, err := loadMergeHints()
	if err != nil {
		t.Fatal(err)
	}
	if len(embedded.types) != len(upstream.types) {
		t.Errorf("embedded hints cover %d structs, client-go's schema %d (run go test -run TestEmbeddedMergeHints -update)", len(embedded.types), len(upstream.types))
	}
	for name, want := range upstream.types {
		got, ok := embedded.types[name]
		if !ok {
			t.Errorf("%s: not embedded", name)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: embedded %+v, client-go %+v", name, got, want)
		}
	}
}

// upstreamMergeHints reads client-go's apply-configuration schema. client-go does
// not export it, but every TypedValue it produces carries it, so one conversion
// of an empty Pod yields the whole schema.
func upstreamMergeHints() (*mergeHints, error) {
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
	hints := &mergeHints{types: make(map[string]structHints, len(schema.Types))}
	for i := range schema.Types {
		def := &schema.Types[i]
		if def.Map == nil {
			continue
		}
		sh := structHints{atomic: def.Map.ElementRelationship == smdschema.Atomic, fields: make(map[string]fieldHint, len(def.Map.Fields))}
		for j := range def.Map.Fields {
			f := &def.Map.Fields[j]
			sh.fields[f.Name] = upstreamFieldHint(f)
		}
		hints.types[def.Name] = sh
	}
	return hints, nil
}

func upstreamFieldHint(f *smdschema.StructField) fieldHint {
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

// file is the digest to embed.
func (h *mergeHints) file() hintsFile {
	out := make(hintsFile, len(h.types))
	for name, sh := range h.types {
		def := out[name]
		def.Atomic = sh.atomic
		def.Fields = make(map[string]hintFileField, len(sh.fields))
		for field, f := range sh.fields {
			def.Fields[field] = hintFileField{ListType: f.listType, ListKeys: f.listKeys, MapType: f.mapType, Default: f.defaultVal}
		}
		out[name] = def
	}
	return out
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
