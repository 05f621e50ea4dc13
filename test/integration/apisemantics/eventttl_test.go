package apisemantics

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// Events expire --event-ttl after their last write, through either API, as with
// kube-apiserver, updated ones too; other objects do not.
func TestEventsExpire(t *testing.T) {
	const ttl = 2 * time.Second
	c := framework.StartCluster(t, framework.Options{APIOnly: true, EventTTL: ttl})
	ctx := t.Context()
	start := time.Now()
	core, err := c.Client.CoreV1().Events("default").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "core-event"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
		Reason:         "Test", Message: "expires", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.EventsV1().Events("default").Create(ctx, &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "new-event"}, EventTime: metav1.NewMicroTime(time.Now()),
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
		Reason:    "Test", Action: "Testing", Type: corev1.EventTypeNormal,
		ReportingController: "berth.test/ttl", ReportingInstance: "i",
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stays"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// An updated event keeps a TTL (a plain storage update would make it permanent) and
	// lives at least the TTL after its update; that a TTL write restarts the clock is the
	// storage suite's TTLUpdates case, on every backend.
	core.Count = 2
	// The TTL counts from the write, which comes after this and before Update returns.
	updated := time.Now()
	if _, err := c.Client.CoreV1().Events("default").Update(ctx, core, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "the events.k8s.io event expires", func() bool {
		_, err := c.Client.EventsV1().Events("default").Get(ctx, "new-event", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if lived := time.Since(start); lived < ttl {
		t.Fatalf("event gone after %s, before its TTL of %s", lived, ttl)
	}
	framework.Eventually(t, 30*time.Second, "the updated core event expires", func() bool {
		_, err := c.Client.CoreV1().Events("default").Get(ctx, "core-event", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if lived := time.Since(updated); lived < ttl {
		t.Fatalf("updated event gone %s after its update, before its TTL of %s", lived, ttl)
	}
	if got, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "stays", metav1.GetOptions{}); err != nil || got.UID != cm.UID {
		t.Fatalf("configmap after the events expired: %v, %v", got, err)
	}
}
