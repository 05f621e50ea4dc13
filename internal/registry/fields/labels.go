package fields

import (
	"fmt"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// UnsupportedLabelError is a field selector label a resource does not
// support. Its message is kube-apiserver's, word for word; the API server
// answers it with 400 Bad Request.
type UnsupportedLabelError struct {
	Resource schema.GroupResource
	Label    string
	message  string
}

func (e *UnsupportedLabelError) Error() string { return e.message }

// labelRule is one resource's field label conversion.
type labelRule struct {
	labels  map[string]bool
	aliases map[string]string // label → name of the selectable field it stands for
	message func(label string) string
}

func notSupported(label string) string {
	return fmt.Sprintf("field label not supported: %s", label)
}

func newRule(message func(string) string, labels ...string) labelRule {
	set := make(map[string]bool, len(labels))
	for _, l := range labels {
		set[l] = true
	}
	return labelRule{labels: set, message: message}
}

// eventLabels are the core/v1 Event field labels, which are also the names
// of the fields both Event versions are matched against (see Set).
var eventLabels = []string{
	"involvedObject.kind",
	"involvedObject.namespace",
	"involvedObject.name",
	"involvedObject.uid",
	"involvedObject.apiVersion",
	"involvedObject.resourceVersion",
	"involvedObject.fieldPath",
	"reason",
	"reportingComponent",
	"source",
	"type",
	"metadata.namespace",
	"metadata.name",
}

// eventsV1Labels are the events.k8s.io/v1 Event field labels
// (pkg/apis/events/v1 AddFieldLabelConversionsForEvent): the API's own field
// names, mapped to the core/v1 names of the selectable fields. The core/v1
// spellings involvedObject.* and reportingComponent are not accepted here.
var eventsV1Labels = map[string]string{
	"reason":                    "reason",
	"regarding.kind":            "involvedObject.kind",
	"regarding.namespace":       "involvedObject.namespace",
	"regarding.name":            "involvedObject.name",
	"regarding.uid":             "involvedObject.uid",
	"regarding.apiVersion":      "involvedObject.apiVersion",
	"regarding.resourceVersion": "involvedObject.resourceVersion",
	"regarding.fieldPath":       "involvedObject.fieldPath",
	"reportingController":       "reportingComponent",
	"source":                    "source",
	"type":                      "type",
	"metadata.namespace":        "metadata.namespace",
	"metadata.name":             "metadata.name",
}

// rules returns the field label conversion of the resources that register
// their own upstream; every other resource gets the metadata-only default.
func rules(gr schema.GroupResource) (labelRule, bool) {
	switch gr {
	case schema.GroupResource{Resource: "pods"}:
		r := newRule(notSupported,
			"metadata.name", "metadata.namespace",
			"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
			"spec.serviceAccountName", "spec.hostNetwork",
			"status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName")
		// Old v1 clients send spec.host.
		r.aliases = map[string]string{"spec.host": "spec.nodeName"}
		return r, true
	case schema.GroupResource{Resource: "nodes"}:
		return newRule(notSupported, "metadata.name", "spec.unschedulable"), true
	case schema.GroupResource{Resource: "replicationcontrollers"}:
		return newRule(notSupported, "metadata.name", "metadata.namespace", "status.replicas"), true
	case schema.GroupResource{Resource: "events"}:
		return newRule(notSupported, eventLabels...), true
	case schema.GroupResource{Group: "events.k8s.io", Resource: "events"}:
		return labelRule{aliases: eventsV1Labels, message: notSupported}, true
	case schema.GroupResource{Resource: "namespaces"}:
		return newRule(notSupported, "status.phase", "metadata.name"), true
	case schema.GroupResource{Resource: "secrets"}:
		return newRule(notSupported, "type", "metadata.namespace", "metadata.name"), true
	case schema.GroupResource{Resource: "services"}:
		return newRule(notSupported, "metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"), true
	case schema.GroupResource{Group: "batch", Resource: "jobs"}:
		return newRule(func(label string) string {
			return fmt.Sprintf("field label %q not supported for batchv1.Job", label)
		}, "metadata.name", "metadata.namespace", "status.successful"), true
	case schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}:
		return newRule(notSupported, "metadata.name", "spec.signerName"), true
	}
	return labelRule{}, false
}

// ConvertLabel is the field label conversion of resource gr: it returns the
// label and value to match objects with (a legacy alias becomes its current
// name), or an *UnsupportedLabelError.
func ConvertLabel(gr schema.GroupResource, label, value string) (string, string, error) {
	rule, ok := rules(gr)
	if !ok {
		l, v, err := runtime.DefaultMetaV1FieldSelectorConversion(label, value)
		if err != nil {
			return "", "", &UnsupportedLabelError{Resource: gr, Label: label, message: err.Error()}
		}
		return l, v, nil
	}
	if rule.labels[label] {
		return label, value, nil
	}
	if to, ok := rule.aliases[label]; ok {
		return to, value, nil
	}
	return "", "", &UnsupportedLabelError{Resource: gr, Label: label, message: rule.message(label)}
}

// Supported reports whether resource gr accepts label in a field selector.
func Supported(gr schema.GroupResource, label string) bool {
	_, _, err := ConvertLabel(gr, label, "")
	return err == nil
}

// Convert checks every label of selector against resource gr and returns
// the selector to match objects with, or the first *UnsupportedLabelError.
func Convert(gr schema.GroupResource, selector fields.Selector) (fields.Selector, error) {
	return selector.Transform(func(label, value string) (string, string, error) {
		return ConvertLabel(gr, label, value)
	})
}
