package kubectl

import (
	"strings"
	"testing"
	"time"
)

// eventsWide are the -o wide columns of events: the wide ones are not all at the end.
var eventsWide = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"}

// columns are Kubernetes' server-side table columns (pkg/printers/internalversion), for
// kubectl get and kubectl get -o wide (normal then wideExtra, unless wide says otherwise);
// cluster-scoped resources come last.
var columns = []struct {
	resource    string
	normal      []string
	wideExtra   []string
	wide        []string
	clusterWide bool
}{
	{resource: "pods", normal: []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}, wideExtra: []string{"IP", "NODE", "NOMINATED NODE", "READINESS GATES"}},
	{resource: "deployments", normal: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}, wideExtra: []string{"CONTAINERS", "IMAGES", "SELECTOR"}},
	{resource: "replicasets", normal: []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}, wideExtra: []string{"CONTAINERS", "IMAGES", "SELECTOR"}},
	{resource: "replicationcontrollers", normal: []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}, wideExtra: []string{"CONTAINERS", "IMAGES", "SELECTOR"}},
	{resource: "services", normal: []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}, wideExtra: []string{"SELECTOR"}},
	{resource: "configmaps", normal: []string{"NAME", "DATA", "AGE"}},
	{resource: "secrets", normal: []string{"NAME", "TYPE", "DATA", "AGE"}},
	// Kubernetes 1.35 dropped the SECRETS column (kubernetes/kubernetes#117160).
	{resource: "serviceaccounts", normal: []string{"NAME", "AGE"}},
	{resource: "endpoints", normal: []string{"NAME", "ENDPOINTS", "AGE"}},
	{resource: "endpointslices", normal: []string{"NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"}},
	{resource: "leases", normal: []string{"NAME", "HOLDER", "AGE"}},
	{resource: "events", normal: []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}, wide: eventsWide},
	{resource: "events.events.k8s.io", normal: []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}, wide: eventsWide},
	{resource: "namespaces", normal: []string{"NAME", "STATUS", "AGE"}, clusterWide: true},
	{resource: "nodes", normal: []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}, wideExtra: []string{"INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"}, clusterWide: true},
}

func testGetColumns(t *testing.T, e *env) {
	now := time.Now().UTC().Format(time.RFC3339)
	e.mustStdin(t, pod("cp", "app: cols")+`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cd}
spec:
  replicas: 0
  selector: {matchLabels: {app: cd}}
  template:
    metadata: {labels: {app: cd}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cr}
spec:
  replicas: 0
  selector: {matchLabels: {app: cr}}
  template:
    metadata: {labels: {app: cr}}
    spec: {containers: [{name: c, image: busybox}, {name: d, image: nginx}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: cc}
spec:
  replicas: 0
  selector: {app: cc}
  template:
    metadata: {labels: {app: cc}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Service
metadata: {name: cs}
spec:
  selector: {app: cols}
  ports: [{name: http, port: 80, protocol: TCP}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ccm}
data: {a: "1", b: "2"}
---
apiVersion: v1
kind: Secret
metadata: {name: csec}
type: kubernetes.io/tls
data: {tls.crt: "", tls.key: ""}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: csa}
---
apiVersion: v1
kind: Endpoints
metadata: {name: cep}
subsets: [{addresses: [{ip: 10.42.0.5}], ports: [{port: 8080}]}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ces}
addressType: IPv4
endpoints: [{addresses: [10.42.0.6]}]
ports: [{port: 8080, protocol: TCP}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: cl}
spec: {holderIdentity: someone}
---
apiVersion: v1
kind: Event
metadata: {name: cev}
involvedObject: {kind: Pod, name: cp, namespace: `+e.ns+`}
reason: Columns
message: checking columns
type: Normal
source: {component: columns-test}
count: 1
firstTimestamp: "`+now+`"
lastTimestamp: "`+now+`"
---
`+unschedulableNode("k-get-columns-node"), "create", "-f", "-")
	t.Cleanup(func() { e.run(t, "delete", "node", "k-get-columns-node", "--wait=false") })

	// One get per output kind names one object of each resource and prints one table per
	// resource, in the order asked.
	names := map[string]string{"pods": "cp", "deployments": "cd", "replicasets": "cr", "replicationcontrollers": "cc",
		"services": "cs", "configmaps": "ccm", "secrets": "csec", "serviceaccounts": "csa", "endpoints": "cep",
		"endpointslices": "ces", "leases": "cl", "events": "cev", "events.events.k8s.io": "cev",
		"namespaces": e.ns, "nodes": "k-get-columns-node"}
	var named, kinds []string
	for _, c := range columns {
		named = append(named, c.resource+"/"+names[c.resource])
		if !c.clusterWide {
			kinds = append(kinds, c.resource)
		}
	}
	tables := func(args ...string) []string {
		out := e.must(t, append([]string{"get"}, args...)...)
		return strings.Split(out, "\n\n")
	}
	normal, wide := tables(named...), tables(append(named, "-o", "wide")...)
	allNamespaces := tables(strings.Join(kinds, ","), "-A", "--field-selector", "metadata.namespace="+e.ns)
	if len(normal) != len(columns) || len(wide) != len(columns) || len(allNamespaces) != len(kinds) {
		t.Fatalf("got %d, %d and %d tables, want %d, %d and %d", len(normal), len(wide), len(allNamespaces), len(columns), len(columns), len(kinds))
	}
	for i, c := range columns {
		wantHeader(t, normal[i], c.normal...)
		want := c.wide
		if want == nil {
			want = append(append([]string(nil), c.normal...), c.wideExtra...)
		}
		wantHeader(t, wide[i], want...)
	}
	for i, c := range columns[:len(kinds)] {
		wantHeader(t, allNamespaces[i], append([]string{"NAMESPACE"}, c.normal...)...)
	}

	// Cells Kubernetes prints for objects no controller or agent changes.
	out := e.must(t, "get", "rs", "cr", "-o", "wide")
	wantColumn(t, out, "DESIRED", "0")
	wantColumn(t, out, "CONTAINERS", "c,d")
	wantColumn(t, out, "IMAGES", "busybox,nginx")
	wantColumn(t, out, "SELECTOR", "app=cr")
	out = e.must(t, "get", "svc", "cs", "-o", "wide")
	wantColumn(t, out, "TYPE", "ClusterIP")
	wantColumn(t, out, "EXTERNAL-IP", "<none>")
	wantColumn(t, out, "PORT(S)", "80/TCP,53/UDP")
	wantColumn(t, out, "SELECTOR", "app=cols")
	wantColumn(t, e.must(t, "get", "cm", "ccm"), "DATA", "2")
	out = e.must(t, "get", "secret", "csec")
	wantColumn(t, out, "TYPE", "kubernetes.io/tls")
	wantColumn(t, out, "DATA", "2")
	wantColumn(t, e.must(t, "get", "endpoints", "cep"), "ENDPOINTS", "10.42.0.5:8080")
	out = e.must(t, "get", "endpointslices", "ces")
	wantColumn(t, out, "ADDRESSTYPE", "IPv4")
	wantColumn(t, out, "PORTS", "8080")
	wantColumn(t, out, "ENDPOINTS", "10.42.0.6")
	wantColumn(t, e.must(t, "get", "lease", "cl"), "HOLDER", "someone")
	out = e.must(t, "get", "events", "--field-selector", "reason=Columns", "-o", "wide")
	wantColumn(t, out, "TYPE", "Normal")
	wantColumn(t, out, "OBJECT", "pod/cp")
	wantColumn(t, out, "SOURCE", "columns-test")
	out = e.must(t, "get", "pod", "cp", "-o", "wide")
	wantColumn(t, out, "READY", "0/1")
	wantColumn(t, out, "STATUS", "Pending")
	wantColumn(t, out, "RESTARTS", "0")
	wantColumn(t, out, "IP", "<none>")
	wantColumn(t, out, "NODE", "<none>")
	out = e.must(t, "get", "node", "k-get-columns-node", "-o", "wide")
	if status := column(t, out, "STATUS")[0]; !strings.HasSuffix(status, ",SchedulingDisabled") {
		t.Errorf("node STATUS %q lacks SchedulingDisabled", status)
	}
	wantColumn(t, out, "ROLES", "<none>")
}
