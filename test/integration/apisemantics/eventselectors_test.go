package apisemantics

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// TestEventFieldSelectors: each Event API accepts the field labels kube-apiserver
// accepts for it — core/v1 involvedObject.*, reportingComponent; events.k8s.io/v1
// regarding.*, reportingController — and rejects the other API's spellings with
// Kubernetes' 400 "field label not supported: <label>". Both APIs select the same
// stored events.
func TestEventFieldSelectors(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	ns := newNamespace(t, c.Client)
	now := metav1.NewMicroTime(time.Now())

	// One event made through each API, about different objects.
	if _, err := c.Client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "core-ev"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", Namespace: ns, UID: "uid-web", FieldPath: "spec.containers{app}"},
		Reason:              "Started",
		Message:             "started",
		Type:                corev1.EventTypeNormal,
		Source:              corev1.EventSource{Component: "kubelet"},
		ReportingController: "kubelet",
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create core event: %v", err)
	}
	if _, err := c.Client.EventsV1().Events(ns).Create(ctx, &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "v1-ev"},
		EventTime:           now,
		Regarding:           corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Name: "api", Namespace: ns, UID: "uid-api", ResourceVersion: "7"},
		Reason:              "ScalingReplicaSet",
		Note:                "scaled",
		Type:                corev1.EventTypeWarning,
		Action:              "Scale",
		ReportingController: "berth.io/deployment-controller",
		ReportingInstance:   "berth-1",
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create events.k8s.io event: %v", err)
	}

	tests := []struct {
		name     string
		eventsV1 bool
		selector string
		want     string // names, space separated
		wantErr  string
	}{
		{name: "core involvedObject", selector: "involvedObject.kind=Pod,involvedObject.name=web,involvedObject.uid=uid-web,involvedObject.fieldPath=spec.containers{app}", want: "core-ev"},
		{name: "core reportingComponent", selector: "reportingComponent=berth.io/deployment-controller", want: "v1-ev"},
		{name: "core source falls back to reporting controller", selector: "source=berth.io/deployment-controller", want: "v1-ev"},
		{name: "core type and reason", selector: "type=Normal,reason=Started", want: "core-ev"},
		{name: "core rejects regarding", selector: "regarding.name=web", wantErr: "field label not supported: regarding.name"},
		{name: "core rejects reportingController", selector: "reportingController=kubelet", wantErr: "field label not supported: reportingController"},

		{name: "v1 regarding", eventsV1: true, selector: "regarding.kind=Deployment,regarding.name=api,regarding.namespace=" + ns + ",regarding.uid=uid-api,regarding.apiVersion=apps/v1,regarding.resourceVersion=7", want: "v1-ev"},
		{name: "v1 regarding of a core event", eventsV1: true, selector: "regarding.name=web,regarding.fieldPath=spec.containers{app}", want: "core-ev"},
		{name: "v1 reportingController", eventsV1: true, selector: "reportingController=kubelet", want: "core-ev"},
		{name: "v1 type reason source", eventsV1: true, selector: "type=Warning,reason=ScalingReplicaSet,source=berth.io/deployment-controller", want: "v1-ev"},
		{name: "v1 metadata", eventsV1: true, selector: "metadata.name=core-ev,metadata.namespace=" + ns, want: "core-ev"},
		{name: "v1 inequality", eventsV1: true, selector: "regarding.kind!=Pod", want: "v1-ev"},
		{name: "v1 rejects involvedObject", eventsV1: true, selector: "involvedObject.name=web", wantErr: "field label not supported: involvedObject.name"},
		{name: "v1 rejects reportingComponent", eventsV1: true, selector: "reportingComponent=kubelet", wantErr: "field label not supported: reportingComponent"},
		{name: "v1 rejects note", eventsV1: true, selector: "note=scaled", wantErr: "field label not supported: note"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := metav1.ListOptions{FieldSelector: tt.selector}
			var names []string
			var err error
			if tt.eventsV1 {
				var list *eventsv1.EventList
				if list, err = c.Client.EventsV1().Events(ns).List(ctx, opts); err == nil {
					for _, e := range list.Items {
						names = append(names, e.Name)
					}
				}
			} else {
				var list *corev1.EventList
				if list, err = c.Client.CoreV1().Events(ns).List(ctx, opts); err == nil {
					for _, e := range list.Items {
						names = append(names, e.Name)
					}
				}
			}
			if tt.wantErr != "" {
				if !apierrors.IsBadRequest(err) || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want 400 %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names, " "); got != tt.want {
				t.Errorf("selected %q, want %q", got, tt.want)
			}
		})
	}

	// A watch takes the same labels.
	w, err := c.Client.EventsV1().Events(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "regarding.name=api"})
	if err != nil {
		t.Fatalf("watch events.k8s.io by regarding.name: %v", err)
	}
	w.Stop()
	if _, err := c.Client.EventsV1().Events(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=api"}); !apierrors.IsBadRequest(err) {
		t.Errorf("watch events.k8s.io by involvedObject.name: %v, want 400", err)
	}

	t.Run("kubectl", func(t *testing.T) {
		out := c.MustKubectl(t, "get", "events.v1.events.k8s.io", "-n", ns, "--field-selector", "regarding.name=api", "-o", "name")
		if strings.TrimSpace(out) != "event.events.k8s.io/v1-ev" {
			t.Errorf("kubectl get events.v1.events.k8s.io --field-selector regarding.name=api: %q", out)
		}
		out = c.MustKubectl(t, "get", "events.v1.events.k8s.io", "-n", ns, "--field-selector", "reportingController=kubelet,regarding.kind=Pod", "-o", "name")
		if strings.TrimSpace(out) != "event.events.k8s.io/core-ev" {
			t.Errorf("kubectl get events.v1.events.k8s.io --field-selector reportingController=kubelet: %q", out)
		}
		r := c.Kubectl(t, "get", "events.v1.events.k8s.io", "-n", ns, "--field-selector", "involvedObject.name=api")
		// kubectl's resource builder wraps the server's message, as it does against Kubernetes.
		want := `Error from server (BadRequest): Unable to find "events.k8s.io/v1, Resource=events" that match label selector "", ` +
			`field selector "involvedObject.name=api": field label not supported: involvedObject.name`
		if r.Err == nil || strings.TrimSpace(r.Stderr) != want {
			t.Errorf("kubectl with a core label on events.k8s.io: err %v, stderr %q, want %q", r.Err, r.Stderr, want)
		}
		out = c.MustKubectl(t, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=web", "-o", "name")
		if strings.TrimSpace(out) != "event/core-ev" {
			t.Errorf("kubectl get events --field-selector involvedObject.name=web: %q", out)
		}
	})
}
