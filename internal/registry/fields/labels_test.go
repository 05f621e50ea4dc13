package fields

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	pods         = schema.GroupResource{Resource: "pods"}
	nodes        = schema.GroupResource{Resource: "nodes"}
	namespaces   = schema.GroupResource{Resource: "namespaces"}
	secrets      = schema.GroupResource{Resource: "secrets"}
	services     = schema.GroupResource{Resource: "services"}
	rcs          = schema.GroupResource{Resource: "replicationcontrollers"}
	coreEvents   = schema.GroupResource{Resource: "events"}
	eventsV1     = schema.GroupResource{Group: "events.k8s.io", Resource: "events"}
	replicaSets  = schema.GroupResource{Group: "apps", Resource: "replicasets"}
	deployments  = schema.GroupResource{Group: "apps", Resource: "deployments"}
	jobs         = schema.GroupResource{Group: "batch", Resource: "jobs"}
	csrs         = schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}
	configMaps   = schema.GroupResource{Resource: "configmaps"}
	leases       = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	endpointSets = schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}
)

type supportCase struct {
	gr    schema.GroupResource
	label string
	want  bool
}

func TestSupported(t *testing.T) {
	tests := []supportCase{
		{pods, "metadata.name", true},
		{pods, "metadata.namespace", true},
		{pods, "spec.nodeName", true},
		{pods, "spec.host", true},
		{pods, "spec.restartPolicy", true},
		{pods, "spec.schedulerName", true},
		{pods, "spec.serviceAccountName", true},
		{pods, "spec.hostNetwork", true},
		{pods, "status.phase", true},
		{pods, "status.podIP", true},
		{pods, "status.podIPs", true},
		{pods, "status.nominatedNodeName", true},
		{pods, "status.hostIP", false},
		{pods, "metadata.uid", false},
		{nodes, "metadata.name", true},
		{nodes, "spec.unschedulable", true},
		{nodes, "metadata.namespace", false},
		{namespaces, "metadata.name", true},
		{namespaces, "status.phase", true},
		{namespaces, "metadata.namespace", false},
		{secrets, "type", true},
		{secrets, "metadata.namespace", true},
		{services, "spec.clusterIP", true},
		{services, "spec.type", true},
		{services, "spec.ports", false},
		{rcs, "status.replicas", true},
		{replicaSets, "status.replicas", false},
		{replicaSets, "metadata.name", true},
		{deployments, "metadata.namespace", true},
		{deployments, "spec.replicas", false},
		{jobs, "status.successful", true},
		{jobs, "status.succeeded", false},
		{csrs, "spec.signerName", true},
		{csrs, "metadata.namespace", false},
		{configMaps, "metadata.name", true},
		{leases, "metadata.namespace", true},
		{endpointSets, "metadata.name", true},
	}
	for _, label := range eventLabels {
		tests = append(tests, supportCase{coreEvents, label, true})
	}
	for label := range eventsV1Labels {
		tests = append(tests, supportCase{eventsV1, label, true})
	}
	// Each Event API accepts only its own spellings, as kube-apiserver does.
	tests = append(tests, []supportCase{
		{coreEvents, "regarding.name", false},
		{coreEvents, "reportingController", false},
		{coreEvents, "message", false},
		{eventsV1, "involvedObject.name", false},
		{eventsV1, "involvedObject.kind", false},
		{eventsV1, "reportingComponent", false},
		{eventsV1, "note", false},
	}...)
	for _, tt := range tests {
		t.Run(tt.gr.String()+"/"+tt.label, func(t *testing.T) {
			if got := Supported(tt.gr, tt.label); got != tt.want {
				t.Errorf("Supported(%v, %q) = %v, want %v", tt.gr, tt.label, got, tt.want)
			}
		})
	}
}

func TestConvertLabelErrors(t *testing.T) {
	tests := []struct {
		gr      schema.GroupResource
		label   string
		message string
	}{
		{pods, "spec.containers", "field label not supported: spec.containers"},
		{nodes, "metadata.namespace", "field label not supported: metadata.namespace"},
		{eventsV1, "involvedObject.kind", "field label not supported: involvedObject.kind"},
		{coreEvents, "regarding.kind", "field label not supported: regarding.kind"},
		{jobs, "status.active", `field label "status.active" not supported for batchv1.Job`},
		{replicaSets, "status.replicas", `"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"`},
		{schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, "foo.bar",
			`"foo.bar" is not a known field selector: only "metadata.name", "metadata.namespace"`},
	}
	for _, tt := range tests {
		t.Run(tt.gr.String()+"/"+tt.label, func(t *testing.T) {
			_, _, err := ConvertLabel(tt.gr, tt.label, "x")
			var unsupported *UnsupportedLabelError
			if !errors.As(err, &unsupported) {
				t.Fatalf("error %v is not an *UnsupportedLabelError", err)
			}
			if err.Error() != tt.message {
				t.Errorf("message %q, want %q", err.Error(), tt.message)
			}
			if unsupported.Label != tt.label || unsupported.Resource != tt.gr {
				t.Errorf("error names %v %q, want %v %q", unsupported.Resource, unsupported.Label, tt.gr, tt.label)
			}
		})
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name     string
		gr       schema.GroupResource
		selector string
		want     string
		wantErr  string
	}{
		{name: "legacy spec.host", gr: pods, selector: "spec.host=node-1,status.phase!=Failed", want: "spec.nodeName=node-1,status.phase!=Failed"},
		{name: "kubectl describe events", gr: coreEvents,
			selector: "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid=u1",
			want:     "involvedObject.kind=Pod,involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=u1"},
		{name: "events.k8s.io names map to the selectable fields", gr: eventsV1,
			selector: "regarding.name=web,regarding.kind=Pod,reportingController=kubelet,type=Normal,reason=Started",
			want:     "reason=Started,involvedObject.kind=Pod,involvedObject.name=web,reportingComponent=kubelet,type=Normal"},
		{name: "events.k8s.io rejects core spellings", gr: eventsV1, selector: "regarding.name=web,involvedObject.name=web",
			wantErr: "field label not supported: involvedObject.name"},
		{name: "empty selector", gr: replicaSets, selector: "", want: ""},
		{name: "first bad label", gr: services, selector: "spec.type=ClusterIP,spec.selector=x", wantErr: "field label not supported: spec.selector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := fields.ParseSelector(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Convert(tt.gr, sel)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("converted %q, want %q", got.String(), tt.want)
			}
		})
	}
}
