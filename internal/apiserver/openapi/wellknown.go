package openapi

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// wellKnown describes a type whose JSON form is not its Go structure. These
// are published by upstream as named definitions with hand-written schemas;
// the schemas here follow what kube-apiserver serves.
type wellKnown struct {
	v2 spec.Schema
	// v3OneOf replaces type in the v3 document (OpenAPIV3OneOfTypes upstream).
	v3OneOf []string
}

// wellKnownTypes is built per generator (no package state) and is small.
func wellKnownTypes() map[reflect.Type]wellKnown {
	str := func(format, description string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}, Format: format, Description: description}}
	}
	obj := func(description string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Description: description}}
	}
	return map[reflect.Type]wellKnown{
		reflect.TypeFor[metav1.Time]():      {v2: str("date-time", timeDoc)},
		reflect.TypeFor[metav1.MicroTime](): {v2: str("date-time", microTimeDoc)},
		reflect.TypeFor[metav1.Duration]():  {v2: str("", durationDoc)},
		reflect.TypeFor[intstr.IntOrString](): {
			v2:      str(intstr.IntOrString{}.OpenAPISchemaFormat(), intOrStringDoc),
			v3OneOf: intstr.IntOrString{}.OpenAPIV3OneOfTypes(),
		},
		reflect.TypeFor[resource.Quantity](): {
			v2:      str(resource.Quantity{}.OpenAPISchemaFormat(), quantityDoc),
			v3OneOf: resource.Quantity{}.OpenAPIV3OneOfTypes(),
		},
		reflect.TypeFor[metav1.FieldsV1]():      {v2: obj(fieldsV1Doc)},
		reflect.TypeFor[runtime.RawExtension](): {v2: obj(rawExtensionDoc)},
	}
}

// extraDoc gives descriptions for types whose doc upstream comes from Go
// comments rather than a SwaggerDoc() method.
func extraDoc(t reflect.Type) map[string]string {
	if t != reflect.TypeFor[metav1.WatchEvent]() {
		return nil
	}
	return map[string]string{
		"":       "Event represents a single event to a watched resource.",
		"object": "Object is:\n * If Type is Added or Modified: the new state of the object.\n * If Type is Deleted: the state of the object immediately before deletion.\n * If Type is Error: *Status is recommended; other types may make sense\n   depending on context.",
	}
}

const (
	timeDoc         = "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.  Wrappers are provided for many of the factory methods that the time package offers."
	microTimeDoc    = "MicroTime is version of Time with microsecond level precision."
	durationDoc     = "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON. In particular, it marshals into strings, which can be used as map keys in json."
	intOrStringDoc  = "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number."
	fieldsV1Doc     = "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\nEach key is either a '.' representing the field itself, and will always map to an empty set, or a string representing a sub-field or item. The string will follow one of these four formats: 'f:<name>', where <name> is the name of a field in a struct, or key in a map 'v:<value>', where <value> is the exact json formatted value of a list item 'i:<index>', where <index> is position of a item in a list 'k:<keys>', where <keys> is a map of  a list item's key fields to their unique values If a key maps to an empty Fields value, the field that key represents is part of the set.\n\nThe exact format is defined in sigs.k8s.io/structured-merge-diff"
	rawExtensionDoc = "RawExtension is used to hold extensions in external versions.\n\nTo use this, make a field which has RawExtension as its type in your external version struct, and Object in your internal struct. You also need to register your various plugin types.\n\nSo what happens? Decode first uses json or yaml to unmarshal the serialized data into your external MyAPIObject. That causes the raw JSON to be stored, but not unpacked. The next step is to copy (using pkg/conversion) into the internal struct. The runtime package's DefaultScheme has conversion functions installed which will unpack the JSON stored in RawExtension, turning it into the correct object type, and storing it in the Object. (TODO: In the case where the object is of an unknown type, a runtime.Unknown object will be created and stored.)"
	quantityDoc     = "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\nThe serialization format is:\n\n``` <quantity>        ::= <signedNumber><suffix>\n\n\t(Note that <suffix> may be empty, from the \"\" case in <decimalSI>.)\n\n<digit>           ::= 0 | 1 | ... | 9 <digits>          ::= <digit> | <digit><digits> <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits> <sign>            ::= \"+\" | \"-\" <signedNumber>    ::= <number> | <sign><number> <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI> <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n\t(International System of units; See: http://physics.nist.gov/cuu/Units/binary.html)\n\n<decimalSI>       ::= m | \"\" | k | M | G | T | P | E\n\n\t(Note that 1024 = 1Ki but 1000 = 1k; I didn't choose the capitalization.)\n\n<decimalExponent> ::= \"e\" <signedNumber> | \"E\" <signedNumber> ```\n\nNo matter which of the three exponent forms is used, no quantity may represent a number greater than 2^63-1 in magnitude, nor may it have more than 3 decimal places. Numbers larger or more precise will be capped or rounded up. (E.g.: 0.1m will rounded up to 1m.) This may be extended in the future if we require larger or smaller quantities.\n\nWhen a Quantity is parsed from a string, it will remember the type of suffix it had, and will use the same type again when it is serialized.\n\nBefore serializing, Quantity will be put in \"canonical form\". This means that Exponent/suffix will be adjusted up or down (with a corresponding increase or decrease in Mantissa) such that:\n\n- No precision is lost - No fractional digits will be emitted - The exponent (or suffix) is as large as possible.\n\nThe sign will be omitted unless the number is negative.\n\nExamples:\n\n- 1.5 will be serialized as \"1500m\" - 1.5Gi will be serialized as \"1536Mi\"\n\nNote that the quantity will NEVER be internally represented by a floating point number. That is the whole point of this exercise.\n\nNon-canonical values will still parse as long as they are well formed, but will be re-emitted in their canonical form. (So always use canonical form, or don't diff.)\n\nThis format is intended to make it difficult to use these numbers without writing some sort of special handling code in the hopes that that will cause implementors to also use a fixed point implementation."
)
