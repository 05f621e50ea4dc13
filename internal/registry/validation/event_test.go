package validation

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateEvent(t *testing.T) {
	valid := func() *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.17a3b", Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
			Reason:         "Started", Message: "Started container app", Type: corev1.EventTypeNormal,
		}
	}
	withEventTime := func(e *corev1.Event) {
		e.EventTime = metav1.NewMicroTime(time.Unix(100, 0))
		e.ReportingController, e.ReportingInstance, e.Action = "berth.io/agent", "node-1", "Start"
	}
	cases := []struct {
		name   string
		mutate func(*corev1.Event)
		want   []want
	}{
		{"valid legacy", func(*corev1.Event) {}, none()},
		{"valid with eventTime", withEventTime, none()},
		{"cluster-scoped object in default", func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "n1"} }, none()},
		{"namespace mismatch", func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" },
			errs(inv("involvedObject.namespace", "does not match event.namespace"))},
		{"name with slash", func(e *corev1.Event) { e.Name = "a/b" }, errs(inv("metadata.name", "may not contain '/'"))},
		{"name with uppercase is fine for core events", func(e *corev1.Event) { e.Name = "Web.1" }, none()},
		{"eventTime requires reporting fields", func(e *corev1.Event) { e.EventTime = metav1.NewMicroTime(time.Unix(100, 0)) },
			errs(req("reportingController"), inv("reportingController", ""), inv("reportingController", ""),
				req("reportingInstance"), req("action"))},
		{"long message", func(e *corev1.Event) {
			withEventTime(e)
			e.Message = strings.Repeat("x", NoteLengthLimit+1)
		}, errs(inv("message", "can have at most 1024 characters"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.mutate(e)
			expectErrors(t, ValidateEvent(e), tc.want)
		})
	}
	t.Run("update", func(t *testing.T) {
		old := valid()
		old.ResourceVersion = "1"
		e := old.DeepCopy()
		e.Count = 5
		expectErrors(t, ValidateEventUpdate(e, old), none())
		e.Namespace = "other"
		expectErrors(t, ValidateEventUpdate(e, old), errs(inv("metadata.namespace", "field is immutable"), inv("involvedObject.namespace", "")))
	})
}

func validEventsV1() *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.17a3b", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(time.Unix(100, 0)),
		ReportingController: "berth.io/scheduler", ReportingInstance: "server-1",
		Action: "Binding", Reason: "Scheduled", Note: "assigned default/web to n1", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
	}
}

func TestValidateEventsV1Event(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   []want
	}{
		{"valid", func(*eventsv1.Event) {}, none()},
		{"no eventTime", func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }, errs(req("eventTime"))},
		{"bad type", func(e *eventsv1.Event) { e.Type = "Info" }, errs(inv("type", "has invalid value: Info"))},
		{"deprecated count set", func(e *eventsv1.Event) { e.DeprecatedCount = 3 }, errs(inv("count", "needs to be unset"))},
		{"series too small", func(e *eventsv1.Event) { e.Series = &eventsv1.EventSeries{Count: 1} },
			errs(inv("series.count", "should be at least 2"), req("series.lastObservedTime"))},
		{"name must be a subdomain", func(e *eventsv1.Event) { e.Name = "Web" }, errs(inv("metadata.name", ""))},
		{"reason too long", func(e *eventsv1.Event) { e.Reason = strings.Repeat("r", 129) }, errs(inv("reason", "can have at most 128 characters"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := validEventsV1()
			tc.mutate(e)
			expectErrors(t, ValidateEventsV1Event(e), tc.want)
		})
	}
}

func TestValidateEventsV1EventUpdate(t *testing.T) {
	old := validEventsV1()
	old.ResourceVersion = "1"
	e := old.DeepCopy()
	e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Unix(200, 0))}
	expectErrors(t, ValidateEventsV1EventUpdate(e, old), none())
	e.Note = "changed"
	expectErrors(t, ValidateEventsV1EventUpdate(e, old), errs(inv("message", "field is immutable")))
}

func TestValidateLease(t *testing.T) {
	valid := func() *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr(int32(40))},
		}
	}
	cases := []struct {
		name   string
		mutate func(*coordinationv1.Lease)
		want   []want
	}{
		{"valid", func(*coordinationv1.Lease) {}, none()},
		{"zero duration", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr(int32(0)) },
			errs(inv("spec.leaseDurationSeconds", "must be greater than 0"))},
		{"negative transitions", func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr(int32(-1)) },
			errs(inv("spec.leaseTransitions", "must be greater than or equal to 0"))},
		{"unknown strategy", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr(coordinationv1.CoordinatedLeaseStrategy("Newest"))
		},
			errs(unsup("spec.strategy"))},
		{"custom strategy", func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr(coordinationv1.CoordinatedLeaseStrategy("example.com/mine"))
		}, none()},
		{"preferredHolder without strategy", func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr("x") },
			errs(forb("spec.preferredHolder", "may only be specified if `strategy` is defined"))},
		{"no namespace", func(l *coordinationv1.Lease) { l.Namespace = "" }, errs(req("metadata.namespace"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := valid()
			tc.mutate(l)
			expectErrors(t, ValidateLease(l), tc.want)
		})
	}
	t.Run("update", func(t *testing.T) {
		old := valid()
		old.ResourceVersion = "1"
		l := old.DeepCopy()
		l.Spec.RenewTime = ptr(metav1.NewMicroTime(time.Unix(300, 0)))
		expectErrors(t, ValidateLeaseUpdate(l, old), none())
		l.Spec.LeaseDurationSeconds = ptr(int32(-1))
		expectErrors(t, ValidateLeaseUpdate(l, old), errs(inv("spec.leaseDurationSeconds", "")))
	})
}
