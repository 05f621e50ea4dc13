package fields

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestSet(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "n1", Namespace: "ns1"}
	involved := corev1.ObjectReference{Kind: "Pod", Namespace: "ns1", Name: "web", UID: "u1",
		APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec.containers{app}"}
	eventWant := func(source string) fields.Set {
		return fields.Set{
			"metadata.name": "n1", "metadata.namespace": "ns1",
			"involvedObject.kind": "Pod", "involvedObject.namespace": "ns1", "involvedObject.name": "web",
			"involvedObject.uid": "u1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "7",
			"involvedObject.fieldPath": "spec.containers{app}",
			"reason":                   "Started", "reportingComponent": "kubelet", "source": source, "type": "Normal",
		}
	}
	tests := []struct {
		name string
		obj  runtime.Object
		want fields.Set
	}{{
		name: "pod",
		obj: &corev1.Pod{ObjectMeta: meta,
			Spec: corev1.PodSpec{NodeName: "node-1", RestartPolicy: corev1.RestartPolicyAlways,
				SchedulerName: "default-scheduler", ServiceAccountName: "default", HostNetwork: true},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.5",
				PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}, {IP: "fd00::5"}}, NominatedNodeName: "node-2"},
		},
		want: fields.Set{
			"metadata.name": "n1", "metadata.namespace": "ns1",
			"spec.nodeName": "node-1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
			"spec.serviceAccountName": "default", "spec.hostNetwork": "true",
			"status.phase": "Running", "status.podIP": "10.42.0.5", "status.nominatedNodeName": "node-2",
		},
	}, {
		name: "pod with nothing set",
		obj:  &corev1.Pod{},
		want: fields.Set{
			"metadata.name": "", "metadata.namespace": "",
			"spec.nodeName": "", "spec.restartPolicy": "", "spec.schedulerName": "",
			"spec.serviceAccountName": "", "spec.hostNetwork": "false",
			"status.phase": "", "status.podIP": "", "status.nominatedNodeName": "",
		},
	}, {
		name: "node",
		obj:  &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Spec: corev1.NodeSpec{Unschedulable: true}},
		want: fields.Set{"metadata.name": "node-1", "spec.unschedulable": "true"},
	}, {
		name: "namespace",
		obj:  &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		want: fields.Set{"metadata.name": "team", "name": "team", "status.phase": "Active"},
	}, {
		name: "secret",
		obj:  &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeServiceAccountToken},
		want: fields.Set{"metadata.name": "n1", "metadata.namespace": "ns1", "type": "kubernetes.io/service-account-token"},
	}, {
		name: "service",
		obj:  &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Type: corev1.ServiceTypeClusterIP}},
		want: fields.Set{"metadata.name": "n1", "metadata.namespace": "ns1", "spec.clusterIP": "10.43.0.1", "spec.type": "ClusterIP"},
	}, {
		name: "replication controller",
		obj:  &corev1.ReplicationController{ObjectMeta: meta, Status: corev1.ReplicationControllerStatus{Replicas: 3}},
		want: fields.Set{"metadata.name": "n1", "metadata.namespace": "ns1", "status.replicas": "3"},
	}, {
		name: "replica set",
		obj:  &appsv1.ReplicaSet{ObjectMeta: meta, Status: appsv1.ReplicaSetStatus{Replicas: 2}},
		want: fields.Set{"metadata.name": "n1", "metadata.namespace": "ns1", "status.replicas": "2"},
	}, {
		name: "core event",
		obj: &corev1.Event{ObjectMeta: meta, InvolvedObject: involved, Reason: "Started",
			ReportingController: "kubelet", Source: corev1.EventSource{Component: "kubelet-src"}, Type: "Normal"},
		want: eventWant("kubelet-src"),
	}, {
		name: "core event source falls back to reporting controller",
		obj:  &corev1.Event{ObjectMeta: meta, InvolvedObject: involved, Reason: "Started", ReportingController: "kubelet", Type: "Normal"},
		want: eventWant("kubelet"),
	}, {
		name: "events.k8s.io event uses core names",
		obj: &eventsv1.Event{ObjectMeta: meta, Regarding: involved, Reason: "Started",
			ReportingController: "kubelet", Type: "Normal"},
		want: eventWant("kubelet"),
	}, {
		name: "job",
		obj:  &batchv1.Job{ObjectMeta: meta, Status: batchv1.JobStatus{Succeeded: 4}},
		want: fields.Set{"metadata.name": "n1", "metadata.namespace": "ns1", "status.successful": "4"},
	}, {
		name: "certificate signing request",
		obj:  &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "csr"}, Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: "kubernetes.io/kubelet-serving"}},
		want: fields.Set{"metadata.name": "csr", "spec.signerName": "kubernetes.io/kubelet-serving"},
	}, {
		name: "other types get name and namespace",
		obj:  &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"}},
		want: fields.Set{"metadata.name": "node-1", "metadata.namespace": "kube-node-lease"},
	}, {
		name: "deployment",
		obj:  &appsv1.Deployment{ObjectMeta: meta},
		want: fields.Set{"metadata.name": "n1", "metadata.namespace": "ns1"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Set(tt.obj)
			if !ok {
				t.Fatal("Set reported no fields")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetWithoutObjectMeta(t *testing.T) {
	for _, obj := range []runtime.Object{&corev1.PodList{}, &metav1.Status{}} {
		if set, ok := Set(obj); ok {
			t.Errorf("Set(%T) = %v, true; want false", obj, set)
		}
	}
}

// TestSelectorsMatch runs converted selectors against object fields end to
// end, the way a list or watch filters.
func TestSelectorsMatch(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}}},
	}
	tests := []struct {
		selector string
		want     bool
	}{
		{"spec.nodeName=node-1", true},
		{"spec.host=node-1", true},
		{"spec.nodeName=node-2", false},
		{"status.phase!=Running", false},
		{"metadata.namespace=default,status.podIP=10.42.0.5", true},
		{"spec.hostNetwork=false", true},
		// Accepted label without a selectable field: only "" matches.
		{"status.podIPs=10.42.0.5", false},
		{"status.podIPs=", true},
	}
	set, _ := Set(pod)
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			sel, err := fields.ParseSelector(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			sel, err = Convert(pods, sel)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(set); got != tt.want {
				t.Errorf("%q matches = %v, want %v", tt.selector, got, tt.want)
			}
		})
	}
}
