package registry

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/storage/memory"
)

func TestEventsSharedBetweenAPIs(t *testing.T) {
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	scheme := NewScheme()
	var core, events *Store
	for _, r := range Builtin() {
		if r.Name != "events" {
			continue
		}
		s := NewStore(r, st, scheme, slog.New(slog.DiscardHandler))
		if r.GroupVersion.Group == "" {
			core = s
		} else {
			events = s
		}
	}
	ctx := context.Background()
	now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
	_, err := events.Create(ctx, "default", &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "e1", Namespace: "default"},
		EventTime:           now,
		ReportingController: "example.com/ctl", ReportingInstance: "ctl-1",
		Action: "Scaling", Reason: "Scaled", Note: "scaled up", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "foo"},
	}, CreateOptions{})
	if err != nil {
		t.Fatalf("create through events.k8s.io: %v", err)
	}
	got, err := core.Get(ctx, "default", "e1")
	if err != nil {
		t.Fatalf("read through core/v1: %v", err)
	}
	ev := got.(*corev1.Event)
	if ev.Message != "scaled up" || ev.InvolvedObject.Name != "foo" || ev.ReportingController != "example.com/ctl" {
		t.Fatalf("core view lost fields: %+v", ev)
	}
	back, err := events.Get(ctx, "default", "e1")
	if err != nil {
		t.Fatal(err)
	}
	if e := back.(*eventsv1.Event); e.Note != "scaled up" || e.Regarding.Kind != "Deployment" || !e.EventTime.Equal(&now) {
		t.Fatalf("events.k8s.io view lost fields: %+v", e)
	}
	list, err := events.List(ctx, "default", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.(*eventsv1.EventList).Items); n != 1 {
		t.Fatalf("events.k8s.io list has %d items, want 1", n)
	}
}
