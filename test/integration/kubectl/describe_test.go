package kubectl

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// wantFields checks "Key:  value" lines of kubectl describe output (at any indentation,
// with any run of spaces between key and value, as its tab writer aligns them).
func wantFields(t *testing.T, out string, fields ...[2]string) {
	t.Helper()
	for _, f := range fields {
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(f[0]+":") + `\s+` + regexp.QuoteMeta(f[1]) + `\s*$`)
		if !re.MatchString(out) {
			t.Errorf("describe output lacks %q with value %q:\n%s", f[0], f[1], out)
		}
	}
}

// unschedulableNode is a node no pod lands on (there is no agent behind it).
func unschedulableNode(name string) string {
	return "apiVersion: v1\nkind: Node\nmetadata: {name: " + name + ", labels: {kubernetes.io/hostname: " + name + ", example.com/test: kubectl}}\n" +
		"spec:\n  unschedulable: true\n  taints: [{key: example.com/no-agent, effect: NoSchedule}]\n"
}

func testDescribe(t *testing.T, e *env) {
	e.mustStdin(t, `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}, annotations: {note: hello}}
spec:
  containers:
  - name: app
    image: app:0.3.2
    ports: [{containerPort: 8080, name: http}]
    env: [{name: MODE, value: test}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: app:0.3.2}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, protocol: TCP}]
`, "create", "-f", "-")
	node := "k-describe-node"
	e.mustStdin(t, unschedulableNode(node), "create", "-f", "-")
	t.Cleanup(func() { e.run(t, "delete", "node", node, "--wait=false") })

	out := e.must(t, "describe", "pod", "web")
	wantFields(t, out,
		[2]string{"Name", "web"}, [2]string{"Namespace", e.ns}, [2]string{"Priority", "0"},
		[2]string{"Service Account", "default"}, [2]string{"Node", "<none>"}, [2]string{"Labels", "app=web"},
		[2]string{"Annotations", "note: hello"}, [2]string{"Status", "Pending"}, [2]string{"Image", "app:0.3.2"},
		[2]string{"Port", "8080/TCP (http)"}, [2]string{"QoS Class", "BestEffort"},
		[2]string{"Tolerations", "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s"},
		[2]string{"MODE", "test"})
	if !strings.Contains(out, "\nContainers:\n  app:\n") || !strings.Contains(out, "\nEvents:") {
		t.Errorf("describe pod lacks the containers or events section:\n%s", out)
	}

	out = e.must(t, "describe", "deployment", "web")
	wantFields(t, out,
		[2]string{"Name", "web"}, [2]string{"Namespace", e.ns}, [2]string{"Selector", "app=web"},
		[2]string{"StrategyType", "RollingUpdate"}, [2]string{"MinReadySeconds", "0"},
		[2]string{"RollingUpdateStrategy", "25% max unavailable, 25% max surge"})
	if !regexp.MustCompile(`(?m)^Replicas:\s+2 desired \| \d+ updated \| \d+ total \| \d+ available \| \d+ unavailable$`).MatchString(out) {
		t.Errorf("describe deployment lacks the replicas line:\n%s", out)
	}

	out = e.must(t, "describe", "service", "web")
	wantFields(t, out,
		[2]string{"Name", "web"}, [2]string{"Namespace", e.ns}, [2]string{"Selector", "app=web"},
		[2]string{"Type", "ClusterIP"}, [2]string{"Port", "<unset>  80/TCP"}, [2]string{"TargetPort", "8080/TCP"},
		[2]string{"Session Affinity", "None"}, [2]string{"Internal Traffic Policy", "Cluster"})

	out = e.must(t, "describe", "namespace", e.ns)
	wantFields(t, out, [2]string{"Name", e.ns}, [2]string{"Labels", "kubernetes.io/metadata.name=" + e.ns}, [2]string{"Status", "Active"})

	out = e.must(t, "describe", "node", node)
	wantFields(t, out,
		[2]string{"Name", node}, [2]string{"Roles", "<none>"}, [2]string{"Unschedulable", "true"},
		[2]string{"Taints", "example.com/no-agent:NoSchedule"})
	for _, want := range []string{"Non-terminated Pods:", "Allocated resources:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe node lacks %q:\n%s", want, out)
		}
	}

	// Describing a kind lists every object of it; a missing one is a NotFound.
	out = e.must(t, "describe", "pods")
	if !regexp.MustCompile(`(?m)^Name:\s+web$`).MatchString(out) {
		t.Errorf("describe pods lacks pod web:\n%s", out)
	}
	wantErr(t, e.run(t, "describe", "pod", "missing"), "Error from server (NotFound): pods \"missing\" not found\n")
}

func testEvents(t *testing.T, e *env) {
	e.mustStdin(t, pod("ev1", "app: ev"), "create", "-f", "-")
	uid := e.must(t, "get", "pod", "ev1", "-o", "jsonpath={.metadata.uid}")
	now := time.Now().UTC().Format(time.RFC3339)
	e.mustStdin(t, `apiVersion: v1
kind: Event
metadata: {name: ev1.test}
involvedObject: {kind: Pod, apiVersion: v1, name: ev1, namespace: `+e.ns+`, uid: `+uid+`}
reason: TestReason
message: hello from the test
type: Warning
source: {component: test-component}
count: 3
firstTimestamp: "`+now+`"
lastTimestamp: "`+now+`"
`, "create", "-f", "-")

	// The scheduler may add events of its own for ev1: select the test's.
	out := e.must(t, "get", "events", "--field-selector", "reason=TestReason")
	wantHeader(t, out, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
	wantColumn(t, out, "OBJECT", "pod/ev1")
	wantColumn(t, out, "MESSAGE", "hello from the test")
	out = e.must(t, "get", "events", "--field-selector", "reason=TestReason", "-o", "wide")
	wantHeader(t, out, "LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME")
	wantColumn(t, out, "SOURCE", "test-component")
	wantColumn(t, out, "COUNT", "3")
	wantColumn(t, out, "NAME", "ev1.test")

	// The same event through events.k8s.io/v1, and by the selectors kubectl uses.
	out = e.must(t, "get", "events.v1.events.k8s.io", "--field-selector", "reason=TestReason", "-o", "jsonpath={.items[*].note} {.items[*].regarding.name} {.items[*].deprecatedCount}")
	if out != "hello from the test ev1 3" {
		t.Errorf("events.k8s.io view: %q", out)
	}
	out = e.must(t, "get", "events", "--field-selector", "involvedObject.kind=Pod,involvedObject.name=ev1,involvedObject.uid="+uid, "-o", "name")
	if !strings.Contains(out, "event/ev1.test\n") {
		t.Errorf("involvedObject field selector: %q", out)
	}
	out = e.must(t, "events", "--for", "pod/ev1", "--types", "Warning")
	wantHeader(t, out, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
	if !strings.Contains(out, "hello from the test") {
		t.Errorf("kubectl events --for lacks the event:\n%s", out)
	}

	// kubectl describe finds events by involvedObject field selectors.
	out = e.must(t, "describe", "pod", "ev1")
	if !regexp.MustCompile(`(?m)^\s+Warning\s+TestReason\s+\S+ \(x3 over \S+\)\s+test-component\s+hello from the test$`).MatchString(out) &&
		!regexp.MustCompile(`(?m)^\s+Warning\s+TestReason\s+\S+\s+test-component\s+hello from the test$`).MatchString(out) {
		t.Errorf("describe pod does not show the event:\n%s", out)
	}
}

// testDescribeOtherKinds describes the kinds of the issue that testDescribe leaves out,
// each created directly (no controller needed), and checks the lines kubectl's
// describers print for them.
func testDescribeOtherKinds(t *testing.T, e *env) {
	e.mustStdin(t, strings.ReplaceAll(`apiVersion: v1
kind: ConfigMap
metadata: {name: dcm}
data: {key: value}
---
apiVersion: v1
kind: Secret
metadata: {name: dsecret}
stringData: {password: hunter2}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: dsa}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: drc}
spec:
  replicas: 0
  selector: {app: drc}
  template:
    metadata: {labels: {app: drc}}
    spec: {containers: [{name: c, image: busybox:1.35}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: drs}
spec:
  replicas: 0
  selector: {matchLabels: {app: drs}}
  template:
    metadata: {labels: {app: drs}}
    spec: {containers: [{name: c, image: busybox:1.35}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: dep}
subsets: [{addresses: [{ip: 10.42.0.5}], ports: [{name: http, port: 8080, protocol: TCP}]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: deps, labels: {kubernetes.io/service-name: dep}}
addressType: IPv4
endpoints: [{addresses: [10.42.0.5], conditions: {ready: true}}]
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: dlease}
spec: {holderIdentity: someone, leaseDurationSeconds: 15}
---
apiVersion: v1
kind: Event
metadata: {name: dev1}
involvedObject: {kind: ConfigMap, name: dcm, namespace: NS, apiVersion: v1}
reason: Checked
message: core event
type: Normal
source: {component: describe-test}
---
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: dev2}
eventTime: "2026-01-01T00:00:00.000000Z"
regarding: {kind: ConfigMap, name: dcm, namespace: NS, apiVersion: v1}
reason: Checked
note: events.k8s.io event
type: Normal
action: Describe
reportingController: example.com/describe-test
reportingInstance: describe-test-1
`, "NS", e.ns), "create", "-f", "-")

	cases := []struct {
		args   []string
		fields [][2]string
		lines  []string
	}{
		{[]string{"configmap", "dcm"}, [][2]string{{"Name", "dcm"}, {"Namespace", e.ns}}, []string{"\nData\n====\nkey:\n----\nvalue\n"}},
		{[]string{"secret", "dsecret"}, [][2]string{{"Name", "dsecret"}, {"Type", "Opaque"}, {"password", "7 bytes"}}, nil},
		{[]string{"serviceaccount", "dsa"}, [][2]string{{"Name", "dsa"}, {"Image pull secrets", "<none>"}, {"Events", "<none>"}}, nil},
		{[]string{"rc", "drc"}, [][2]string{{"Name", "drc"}, {"Selector", "app=drc"}, {"Replicas", "0 current / 0 desired"},
			{"Pods Status", "0 Running / 0 Waiting / 0 Succeeded / 0 Failed"}, {"Image", "busybox:1.35"}}, nil},
		{[]string{"rs", "drs"}, [][2]string{{"Name", "drs"}, {"Selector", "app=drs"}, {"Replicas", "0 current / 0 desired"},
			{"Pods Status", "0 Running / 0 Waiting / 0 Succeeded / 0 Failed"}}, nil},
		{[]string{"endpoints", "dep"}, [][2]string{{"Name", "dep"}, {"Addresses", "10.42.0.5"}}, []string{"\nSubsets:\n", "http  8080  TCP"}},
		{[]string{"endpointslice", "deps"}, [][2]string{{"Name", "deps"}, {"AddressType", "IPv4"}, {"Ready", "true"}}, []string{"\nPorts:\n", "http  8080  TCP"}},
		{[]string{"lease", "dlease"}, [][2]string{{"Name", "dlease"}, {"Holder Identity", "someone"}, {"Lease Duration Seconds", "15"}}, nil},
		{[]string{"events", "dev1"}, [][2]string{{"Name", "dev1"}, {"Reason", "Checked"}, {"Message", "core event"}, {"Component", "describe-test"}}, nil},
		{[]string{"events.events.k8s.io", "dev2"}, [][2]string{{"Name", "dev2"}, {"Reason", "Checked"}, {"Note", "events.k8s.io event"},
			{"Reporting Controller", "example.com/describe-test"}}, nil},
	}
	for _, tc := range cases {
		out := e.must(t, append([]string{"describe"}, tc.args...)...)
		wantFields(t, out, tc.fields...)
		for _, l := range tc.lines {
			if !strings.Contains(out, l) {
				t.Errorf("describe %v lacks %q:\n%s", tc.args, l, out)
			}
		}
	}
}
