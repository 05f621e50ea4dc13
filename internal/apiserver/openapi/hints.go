package openapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

// mergeHints holds what the Go types cannot tell by reflection: the
// +listType/+listMapKey/+mapType/+structType markers and +default values of
// the upstream types. Upstream publishes the same facts in the structured
// merge schema that client-go's apply configurations are generated with, so
// that schema is the source; types it does not know fall back to struct tags.
//
// Reading that schema means parsing client-go's whole YAML document (≈ 70-90 ms
// of CPU, on the server's first write), so its digest is embedded instead:
// mergehints.json, ≈ 120 KB, decoded in ≈ 3 ms. TestEmbeddedMergeHints checks it
// against client-go and rewrites it with -update.
type mergeHints struct {
	types map[string]structHints // definition name -> struct
}

// structHints are one struct's merge semantics.
type structHints struct {
	atomic bool // +structType=atomic
	fields map[string]fieldHint
}

// fieldHint is the merge semantics of one field of one struct.
type fieldHint struct {
	known      bool
	listType   string // "atomic", "set" or "map"; "" when not a list
	listKeys   []string
	mapType    string // "atomic" for +mapType=atomic maps and +structType=atomic refs
	defaultVal any
}

//go:embed mergehints.json
var embeddedMergeHints []byte

// hintsFile is mergehints.json: per definition, "a" when the struct is atomic and "f"
// its fields, each with "l" list type, "k" list keys, "m" map type, "d" default.
type hintsFile map[string]struct {
	Atomic bool                     `json:"a,omitempty"`
	Fields map[string]hintFileField `json:"f"`
}

type hintFileField struct {
	ListType string   `json:"l,omitempty"`
	ListKeys []string `json:"k,omitempty"`
	MapType  string   `json:"m,omitempty"`
	Default  any      `json:"d,omitempty"`
}

// loadMergeHints decodes the embedded digest.
func loadMergeHints() (*mergeHints, error) {
	dec := json.NewDecoder(bytes.NewReader(embeddedMergeHints))
	dec.UseNumber()
	var file hintsFile
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("embedded merge hints: %w", err)
	}
	hints := &mergeHints{types: make(map[string]structHints, len(file))}
	for name, def := range file {
		sh := structHints{atomic: def.Atomic, fields: make(map[string]fieldHint, len(def.Fields))}
		for field, f := range def.Fields {
			sh.fields[field] = fieldHint{known: true, listType: f.ListType, listKeys: f.ListKeys, mapType: f.MapType, defaultVal: numbersAsYAML(f.Default)}
		}
		hints.types[name] = sh
	}
	return hints, nil
}

// numbersAsYAML turns the JSON numbers of a decoded default into what the YAML
// schema gave (int for integers), so the embedded digest equals the upstream one.
func numbersAsYAML(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return int(i)
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = numbersAsYAML(e)
		}
	case []any:
		for i, e := range v {
			v[i] = numbersAsYAML(e)
		}
	}
	return v
}

// structAtomic reports whether the named struct is +structType=atomic.
func (h *mergeHints) structAtomic(defName string) bool {
	if h == nil {
		return false
	}
	return h.types[defName].atomic
}

// field returns the merge semantics upstream declares for field of defName.
func (h *mergeHints) field(defName, field string) fieldHint {
	if h == nil {
		return fieldHint{}
	}
	return h.types[defName].fields[field]
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
