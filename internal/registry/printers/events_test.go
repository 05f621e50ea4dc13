package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	coreEventsGR = schema.GroupResource{Resource: "events"}
	eventsGR     = schema.GroupResource{Group: "events.k8s.io", Resource: "events"}
)

func TestEventColumns(t *testing.T) {
	want := []col{
		{"Last Seen", "string", 0}, {"Type", "string", 0}, {"Reason", "string", 0}, {"Object", "string", 0},
		{"Subobject", "string", 1}, {"Source", "string", 1}, {"Message", "string", 0},
		{"First Seen", "string", 1}, {"Count", "string", 1}, {"Name", "string", 1},
	}
	assertColumns(t, coreEventsGR, want)
	assertColumns(t, eventsGR, want)
}

func TestEventRows(t *testing.T) {
	involved := corev1.ObjectReference{Kind: "Pod", Name: "web-7d9c", FieldPath: "spec.containers{app}"}
	tests := []struct {
		name  string
		gr    schema.GroupResource
		event runtime.Object
		want  []interface{}
	}{
		{
			name: "core event seen several times",
			gr:   coreEventsGR,
			event: &corev1.Event{
				ObjectMeta:     objectMeta("web-7d9c.17a", 10*time.Minute),
				InvolvedObject: involved,
				Reason:         "BackOff",
				Message:        "Back-off restarting failed container app\n",
				Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
				FirstTimestamp: ago(10 * time.Minute),
				LastTimestamp:  ago(75 * time.Second),
				Count:          4,
				Type:           corev1.EventTypeWarning,
			},
			want: []interface{}{"75s", "Warning", "BackOff", "pod/web-7d9c", "spec.containers{app}", "kubelet, node-1",
				"Back-off restarting failed container app", "10m", int64(4), "web-7d9c.17a"},
		},
		{
			name: "core event from the new API: event time, reporting controller, no count",
			gr:   coreEventsGR,
			event: &corev1.Event{
				ObjectMeta:          objectMeta("node-1.17b", time.Minute),
				InvolvedObject:      corev1.ObjectReference{Kind: "Node"},
				Reason:              "Starting",
				Message:             "Starting berth agent.",
				EventTime:           microAgo(2 * time.Minute),
				ReportingController: "berth.io/agent",
				Type:                corev1.EventTypeNormal,
			},
			want: []interface{}{"2m", "Normal", "Starting", "node", "", "berth.io/agent", "Starting berth agent.", "2m", int64(1), "node-1.17b"},
		},
		{
			name: "events.k8s.io event with a series",
			gr:   eventsGR,
			event: &eventsv1.Event{
				ObjectMeta:          objectMeta("web-7d9c.17c", 30*time.Minute),
				EventTime:           microAgo(30 * time.Minute),
				Series:              &eventsv1.EventSeries{Count: 12, LastObservedTime: microAgo(5 * time.Second)},
				ReportingController: "default-scheduler",
				ReportingInstance:   "berth-server-1",
				Action:              "Scheduling",
				Reason:              "FailedScheduling",
				Regarding:           involved,
				Note:                "0/3 nodes are available.",
				Type:                corev1.EventTypeWarning,
			},
			want: []interface{}{"5s", "Warning", "FailedScheduling", "pod/web-7d9c", "spec.containers{app}",
				"default-scheduler, berth-server-1", "0/3 nodes are available.", "30m", int64(12), "web-7d9c.17c"},
		},
		{
			name: "events.k8s.io event with deprecated fields",
			gr:   eventsGR,
			event: &eventsv1.Event{
				ObjectMeta:               objectMeta("web.17d", 3*time.Hour),
				Reason:                   "ScalingReplicaSet",
				Regarding:                corev1.ObjectReference{Kind: "Deployment", Name: "web"},
				Note:                     "Scaled up replica set web-7d9c to 3",
				DeprecatedSource:         corev1.EventSource{Component: "deployment-controller"},
				DeprecatedFirstTimestamp: ago(3 * time.Hour),
				DeprecatedLastTimestamp:  ago(2 * time.Hour),
				DeprecatedCount:          2,
				Type:                     corev1.EventTypeNormal,
			},
			want: []interface{}{"120m", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller",
				"Scaled up replica set web-7d9c to 3", "3h", int64(2), "web.17d"},
		},
		{
			name:  "the event printer reads either type",
			gr:    coreEventsGR,
			event: &eventsv1.Event{ObjectMeta: objectMeta("x", 0), Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p"}},
			want:  []interface{}{"<unknown>", "", "", "pod/p", "", "", "", "<unknown>", int64(1), "x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCells(t, printRow(t, tc.gr, tc.event).Cells, tc.want)
		})
	}
}
