package validation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Length limits of event fields.
const (
	ReportingInstanceLengthLimit = 128
	ActionLengthLimit            = 128
	ReasonLengthLimit            = 128
	NoteLengthLimit              = 1024
)

// eventFields is the common form of core/v1 and events.k8s.io/v1 events.
// Errors use the core/v1 field names, as Kubernetes reports them for both
// API groups (its internal type is the core one).
type eventFields struct {
	meta                *metav1.ObjectMeta
	involvedNamespace   string
	eventTime           metav1.MicroTime
	reportingController string
	reportingInstance   string
	action, reason      string
	message             string
	eventType           string
}

// validateLegacyEvent holds the rules every event must meet, whichever API
// created it.
func validateLegacyEvent(ev eventFields) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	ns := ev.meta.Namespace
	if ev.eventTime.IsZero() {
		// Old-style event: its namespace must be the involved object's
		// (or "default" for cluster-scoped objects, for old clients).
		if ev.involvedNamespace == "" {
			if ns != metav1.NamespaceNone && ns != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, ev.involvedNamespace, "does not match event.namespace"))
			}
		} else if ns != ev.involvedNamespace {
			allErrs = append(allErrs, field.Invalid(nsPath, ev.involvedNamespace, "does not match event.namespace"))
		}
	} else {
		if ev.involvedNamespace == "" && ns != metav1.NamespaceDefault && ns != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(nsPath, ev.involvedNamespace, "does not match event.namespace"))
		}
		if ev.reportingController == "" {
			allErrs = append(allErrs, field.Required(field.NewPath("reportingController"), ""))
		}
		allErrs = append(allErrs, messagesToErrors(validation.IsQualifiedName(ev.reportingController), field.NewPath("reportingController"), ev.reportingController)...)
		allErrs = append(allErrs, requiredWithLimit(ev.reportingInstance, ReportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		allErrs = append(allErrs, requiredWithLimit(ev.action, ActionLengthLimit, field.NewPath("action"))...)
		allErrs = append(allErrs, requiredWithLimit(ev.reason, ReasonLengthLimit, field.NewPath("reason"))...)
		if len(ev.message) > NoteLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", NoteLengthLimit)))
		}
	}
	return append(allErrs, messagesToErrors(validation.IsDNS1123Subdomain(ns), field.NewPath("namespace"), ns)...)
}

func requiredWithLimit(value string, limit int, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if len(value) > limit {
		return field.ErrorList{field.Invalid(fldPath, "", fmt.Sprintf("can have at most %v characters", limit))}
	}
	return nil
}

func coreEventFields(ev *corev1.Event) eventFields {
	return eventFields{
		meta: &ev.ObjectMeta, involvedNamespace: ev.InvolvedObject.Namespace, eventTime: ev.EventTime,
		reportingController: ev.ReportingController, reportingInstance: ev.ReportingInstance,
		action: ev.Action, reason: ev.Reason, message: ev.Message, eventType: ev.Type,
	}
}

// ValidateEvent validates a core/v1 event on create. Like Kubernetes, the
// core API is lenient (old clients): only the name's path safety, and the
// legacy namespace and reporting rules.
func ValidateEvent(ev *corev1.Event) field.ErrorList {
	allErrs := ValidateObjectMeta(&ev.ObjectMeta, true, NameIsPathSegment, field.NewPath("metadata"))
	return append(allErrs, validateLegacyEvent(coreEventFields(ev))...)
}

// ValidateEventUpdate validates a core/v1 event update.
func ValidateEventUpdate(ev, oldEv *corev1.Event) field.ErrorList {
	allErrs := validateMetaUpdate(&ev.ObjectMeta, &oldEv.ObjectMeta)
	return append(allErrs, validateLegacyEvent(coreEventFields(ev))...)
}

func eventsV1Fields(ev *eventsv1.Event) eventFields {
	return eventFields{
		meta: &ev.ObjectMeta, involvedNamespace: ev.Regarding.Namespace, eventTime: ev.EventTime,
		reportingController: ev.ReportingController, reportingInstance: ev.ReportingInstance,
		action: ev.Action, reason: ev.Reason, message: ev.Note, eventType: ev.Type,
	}
}

// ValidateEventsV1Event validates an events.k8s.io/v1 event on create, with
// the strict rules of that API: eventTime and type are required and the
// deprecated fields must be unset.
func ValidateEventsV1Event(ev *eventsv1.Event) field.ErrorList {
	allErrs := validateLegacyEvent(eventsV1Fields(ev))
	allErrs = append(allErrs, ValidateObjectMeta(&ev.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))...)
	allErrs = append(allErrs, validateEventSeries(ev.Series)...)
	if ev.EventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	if !ev.DeprecatedFirstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("firstTimestamp"), "", "needs to be unset"))
	}
	if !ev.DeprecatedLastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("lastTimestamp"), "", "needs to be unset"))
	}
	if ev.DeprecatedCount != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("count"), "", "needs to be unset"))
	}
	if ev.DeprecatedSource.Component != "" || ev.DeprecatedSource.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("source"), "", "needs to be unset"))
	}
	return allErrs
}

func validateEventSeries(series *eventsv1.EventSeries) field.ErrorList {
	if series == nil {
		return nil
	}
	var allErrs field.ErrorList
	if series.Count < 2 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
	}
	if series.LastObservedTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("series.lastObservedTime"), ""))
	}
	return allErrs
}

// ValidateEventsV1EventUpdate validates an events.k8s.io/v1 event update:
// everything but the series (and metadata) is immutable.
func ValidateEventsV1EventUpdate(ev, oldEv *eventsv1.Event) field.ErrorList {
	allErrs := validateLegacyEvent(eventsV1Fields(ev))
	allErrs = append(allErrs, validateMetaUpdate(&ev.ObjectMeta, &oldEv.ObjectMeta)...)
	if !equalSeries(ev.Series, oldEv.Series) {
		allErrs = append(allErrs, validateEventSeries(ev.Series)...)
	}
	for _, f := range []struct {
		name     string
		new, old any
	}{
		{"involvedObject", ev.Regarding, oldEv.Regarding},
		{"reason", ev.Reason, oldEv.Reason},
		{"message", ev.Note, oldEv.Note},
		{"source", ev.DeprecatedSource, oldEv.DeprecatedSource},
		{"firstTimestamp", ev.DeprecatedFirstTimestamp, oldEv.DeprecatedFirstTimestamp},
		{"lastTimestamp", ev.DeprecatedLastTimestamp, oldEv.DeprecatedLastTimestamp},
		{"count", ev.DeprecatedCount, oldEv.DeprecatedCount},
		{"type", ev.Type, oldEv.Type},
		{"eventTime", ev.EventTime, oldEv.EventTime},
		{"action", ev.Action, oldEv.Action},
		{"related", ev.Related, oldEv.Related},
		{"reportingController", ev.ReportingController, oldEv.ReportingController},
		{"reportingInstance", ev.ReportingInstance, oldEv.ReportingInstance},
	} {
		allErrs = append(allErrs, ValidateImmutableField(f.new, f.old, field.NewPath(f.name))...)
	}
	return allErrs
}

func equalSeries(a, b *eventsv1.EventSeries) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Count == b.Count && a.LastObservedTime.Equal(&b.LastObservedTime)
}
