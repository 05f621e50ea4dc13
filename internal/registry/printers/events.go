package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func registerEvents(r *Registry) {
	p := eventPrinter()
	r.Register(schema.GroupResource{Resource: "events"}, p)
	r.Register(schema.GroupResource{Group: eventsv1.GroupName, Resource: "events"}, p)
}

// eventPrinter prints core/v1 and events.k8s.io/v1 Events alike: Kubernetes
// prints both from the same internal type.
func eventPrinter() Printer {
	doc := corev1.Event{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			column("Last Seen", "string", doc["lastTimestamp"]),
			column("Type", "string", doc["type"]),
			column("Reason", "string", doc["reason"]),
			column("Object", "string", doc["involvedObject"]),
			wide(column("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"])),
			wide(column("Source", "string", doc["source"])),
			column("Message", "string", doc["message"]),
			wide(column("First Seen", "string", doc["firstTimestamp"])),
			wide(column("Count", "string", doc["count"])),
			wide(metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}),
		},
		Row: func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
			switch e := obj.(type) {
			case *corev1.Event:
				return printEvent(e, now), nil
			case *eventsv1.Event:
				return printEvent(coreEvent(e), now), nil
			}
			return metav1.TableRow{}, fmt.Errorf("cannot print %T as an event", obj)
		},
	}
}

// coreEvent maps the fields the printer reads from an events.k8s.io/v1 Event
// to their core/v1 names, as Kubernetes' conversion does.
func coreEvent(e *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              corev1.EventSource{Component: e.DeprecatedSource.Component, Host: e.DeprecatedSource.Host},
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Series != nil {
		out.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return out
}

func printEvent(e *corev1.Event, now time.Time) metav1.TableRow {
	firstSeen := age(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		firstSeen = microAge(e.EventTime, now)
	}
	lastSeen := age(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		lastSeen = firstSeen
	}
	count := e.Count
	if e.Series != nil {
		lastSeen = microAge(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		// Singleton events of the new API have no count.
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return cells(lastSeen, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		eventSource(e.Source, e.ReportingController, e.ReportingInstance), strings.TrimSpace(e.Message),
		firstSeen, int64(count), e.Name)
}

// eventSource is "component, host", falling back to the reporting
// controller and instance, without the host part when there is none.
func eventSource(s corev1.EventSource, reportingController, reportingInstance string) string {
	component, instance := s.Component, s.Host
	if component == "" {
		component = reportingController
	}
	if instance == "" {
		instance = reportingInstance
	}
	if instance == "" {
		return component
	}
	return component + ", " + instance
}
