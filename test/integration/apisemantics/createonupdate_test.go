package apisemantics

import (
	"context"
	"net/http"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/test/integration/framework"
)

// TestUpdateCreatesMissing: a PUT of a missing object creates it (201) exactly where
// the Kubernetes strategy's AllowCreateOnUpdate is true — services, endpoints, events
// (core/v1 and events.k8s.io/v1), leases — and is a 404 everywhere else.
func TestUpdateCreatesMissing(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	ns := newNamespace(t, c.Client)
	om := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }
	podSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: podSpec}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	holder := "holder"
	now := metav1.NewMicroTime(time.Now())

	core, apps := c.Client.CoreV1().RESTClient(), c.Client.AppsV1().RESTClient()
	tests := []struct {
		name       string
		client     rest.Interface
		resource   string
		namespaced bool
		obj        runtime.Object
		create     bool
	}{
		{name: "services", client: core, resource: "services", namespaced: true, create: true,
			obj: &corev1.Service{ObjectMeta: om("svc"), Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
		{name: "endpoints", client: core, resource: "endpoints", namespaced: true, create: true,
			obj: &corev1.Endpoints{ObjectMeta: om("ep")}},
		{name: "events", client: core, resource: "events", namespaced: true, create: true,
			obj: &corev1.Event{ObjectMeta: om("ev"), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns}, Reason: "R", Type: corev1.EventTypeNormal}},
		{name: "events.k8s.io events", client: c.Client.EventsV1().RESTClient(), resource: "events", namespaced: true, create: true,
			obj: &eventsv1.Event{ObjectMeta: om("ev1"), EventTime: now, Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns},
				Reason: "R", Type: corev1.EventTypeNormal, Action: "A", ReportingController: "test.io/c", ReportingInstance: "i"}},
		{name: "leases", client: c.Client.CoordinationV1().RESTClient(), resource: "leases", namespaced: true, create: true,
			obj: &coordinationv1.Lease{ObjectMeta: om("lease"), Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}},

		{name: "namespaces", client: core, resource: "namespaces",
			obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns + "-missing"}}},
		{name: "nodes", client: core, resource: "nodes",
			obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns + "-node"}}},
		{name: "pods", client: core, resource: "pods", namespaced: true, obj: &corev1.Pod{ObjectMeta: om("pod"), Spec: podSpec}},
		{name: "configmaps", client: core, resource: "configmaps", namespaced: true, obj: &corev1.ConfigMap{ObjectMeta: om("cm")}},
		{name: "secrets", client: core, resource: "secrets", namespaced: true, obj: &corev1.Secret{ObjectMeta: om("secret")}},
		{name: "serviceaccounts", client: core, resource: "serviceaccounts", namespaced: true, obj: &corev1.ServiceAccount{ObjectMeta: om("sa")}},
		{name: "replicationcontrollers", client: core, resource: "replicationcontrollers", namespaced: true,
			obj: &corev1.ReplicationController{ObjectMeta: om("rc"), Spec: corev1.ReplicationControllerSpec{Selector: map[string]string{"app": "x"}, Template: &template}}},
		{name: "deployments", client: apps, resource: "deployments", namespaced: true,
			obj: &appsv1.Deployment{ObjectMeta: om("deploy"), Spec: appsv1.DeploymentSpec{Selector: selector, Template: template}}},
		{name: "replicasets", client: apps, resource: "replicasets", namespaced: true,
			obj: &appsv1.ReplicaSet{ObjectMeta: om("rs"), Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template}}},
		{name: "endpointslices", client: c.Client.DiscoveryV1().RESTClient(), resource: "endpointslices", namespaced: true,
			obj: &discoveryv1.EndpointSlice{ObjectMeta: om("slice"), AddressType: discoveryv1.AddressTypeIPv4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.obj.(metav1.Object).GetName()
			put := func(obj runtime.Object) (int, error) {
				var code int
				err := tt.client.Put().NamespaceIfScoped(ns, tt.namespaced).Resource(tt.resource).Name(name).
					Body(obj).Do(ctx).StatusCode(&code).Error()
				return code, err
			}
			code, err := put(tt.obj)
			if !tt.create {
				if !apierrors.IsNotFound(err) || code != http.StatusNotFound {
					t.Fatalf("PUT of a missing %s: %d %v, want 404 NotFound", tt.resource, code, err)
				}
				return
			}
			if err != nil || code != http.StatusCreated {
				t.Fatalf("PUT of a missing %s: %d %v, want 201 Created", tt.resource, code, err)
			}
			created := tt.obj.DeepCopyObject()
			if err := tt.client.Get().NamespaceIfScoped(ns, tt.namespaced).Resource(tt.resource).Name(name).Do(ctx).Into(created); err != nil {
				t.Fatalf("get the created %s: %v", tt.resource, err)
			}
			// The object exists now: the next PUT is an update.
			if code, err := put(created); err != nil || code != http.StatusOK {
				t.Errorf("second PUT: %d %v, want 200", code, err)
			}
		})
	}

	// The typed clients' Update does the same.
	t.Run("typed Update", func(t *testing.T) {
		lease, err := c.Client.CoordinationV1().Leases(ns).Update(ctx, &coordinationv1.Lease{ObjectMeta: om("typed-lease"),
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}, metav1.UpdateOptions{})
		if err != nil || lease.UID == "" || lease.ResourceVersion == "" {
			t.Fatalf("Leases().Update of a missing lease: %v %+v", err, lease)
		}
		svc, err := c.Client.CoreV1().Services(ns).Update(ctx, &corev1.Service{ObjectMeta: om("typed-svc"),
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.UpdateOptions{})
		if err != nil || svc.Spec.ClusterIP == "" {
			t.Fatalf("Services().Update of a missing service: %v, clusterIP %q (want one allocated)", err, svc.Spec.ClusterIP)
		}
		ev, err := c.Client.EventsV1().Events(ns).Update(ctx, &eventsv1.Event{ObjectMeta: om("typed-ev"), EventTime: now,
			Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns}, Reason: "R", Type: corev1.EventTypeNormal,
			Action: "A", ReportingController: "test.io/c", ReportingInstance: "i"}, metav1.UpdateOptions{})
		if err != nil || ev.UID == "" {
			t.Fatalf("EventsV1().Events().Update of a missing event: %v", err)
		}
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Update(ctx, &corev1.ConfigMap{ObjectMeta: om("typed-cm")}, metav1.UpdateOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ConfigMaps().Update of a missing configmap: %v, want NotFound", err)
		}
		// A resourceVersion names a version of an object that does not exist.
		_, err = c.Client.CoordinationV1().Leases(ns).Update(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "typed-lease-rv", Namespace: ns, ResourceVersion: "5"}}, metav1.UpdateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("Leases().Update of a missing lease with a resourceVersion: %v, want NotFound", err)
		}
	})
}
