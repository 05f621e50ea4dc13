package kubectl

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// examplesDir is the repository's examples/, seen from this package's directory.
const examplesDir = "../../../examples/"

func testApplyExamples(t *testing.T, e *env) {
	created := `pod/nginx created
pod/foo-instance-1 created
deployment.apps/foo-deployment-1 created
service/foo created
deployment.apps/foo-stable created
deployment.apps/foo-canary created
service/foo-web created
`
	wantOut(t, e.run(t, "apply", "-f", examplesDir), created)
	// A second apply finds nothing to change, whatever the controllers did meanwhile.
	wantOut(t, e.run(t, "apply", "-f", examplesDir), strings.ReplaceAll(created, "created", "unchanged"))
	wantOut(t, e.run(t, "apply", "--server-side", "-f", examplesDir), strings.ReplaceAll(created, "created", "serverside-applied"))

	// The story's command: several kinds in one get, one table each.
	out := e.must(t, "get", "pods,deploy,svc", "-o", "wide")
	tables := strings.Split(out, "\n\n")
	if len(tables) != 3 {
		t.Fatalf("want 3 tables, got %d:\n%s", len(tables), out)
	}
	wantHeader(t, tables[0], "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
	// The Deployments' pods are there too when controllers run: look for the story's pods.
	for _, want := range []string{"pod/foo-instance-1", "pod/nginx"} {
		if !slices.Contains(column(t, tables[0], "NAME"), want) {
			t.Fatalf("no %s in\n%s", want, tables[0])
		}
	}
	wantHeader(t, tables[1], "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR")
	wantColumn(t, tables[1], "NAME", "deployment.apps/foo-canary", "deployment.apps/foo-deployment-1", "deployment.apps/foo-stable")
	wantColumn(t, tables[1], "CONTAINERS", "app", "nginx,app", "app")
	wantColumn(t, tables[1], "IMAGES", "app:0.3.3", "nginx:1.20.1,app:0.3.2", "app:0.3.2")
	wantColumn(t, tables[1], "SELECTOR", "app=foo,track=canary", "app=foo", "app=foo,track=stable")
	wantHeader(t, tables[2], "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR")
	wantColumn(t, tables[2], "NAME", "service/foo", "service/foo-web")
	wantColumn(t, tables[2], "PORT(S)", "80/TCP", "80/TCP")
	wantColumn(t, tables[2], "SELECTOR", "app=foo", "app=foo")

	// -A adds the NAMESPACE column.
	out = e.must(t, "get", "deploy", "-A", "-o", "wide", "--field-selector", "metadata.namespace="+e.ns)
	wantHeader(t, out, "NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR")
	wantColumn(t, out, "NAMESPACE", e.ns, e.ns, e.ns)
}

func testGetOutputFormats(t *testing.T, e *env) {
	e.mustStdin(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: alpha, labels: {set: fmt, tier: front}}
data: {rank: "3", x: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: beta, labels: {set: fmt, tier: back}}
data: {rank: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gamma, labels: {set: fmt}}
data: {rank: "2"}
`, "create", "-f", "-")
	sel := []string{"-l", "set=fmt"}

	out := e.must(t, "get", "cm", "alpha", "-o", "yaml")
	for _, want := range []string{"apiVersion: v1\n", "kind: ConfigMap\n", "  name: alpha\n", "  namespace: " + e.ns + "\n", "  rank: \"3\"\n", "  resourceVersion: ", "  uid: ", "  creationTimestamp: "} {
		if !strings.Contains(out, want) {
			t.Fatalf("-o yaml lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "managedFields") {
		t.Fatalf("-o yaml shows managedFields without --show-managed-fields:\n%s", out)
	}
	out = e.must(t, "get", "cm", "alpha", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"  managedFields:\n", "    manager: kubectl-create\n", "    operation: Update\n", "    fieldsType: FieldsV1\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("--show-managed-fields lacks %q:\n%s", want, out)
		}
	}

	var list struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Items      []struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct{ Name string }
		}
	}
	if err := json.Unmarshal([]byte(e.must(t, append([]string{"get", "cm", "-o", "json"}, sel...)...)), &list); err != nil {
		t.Fatal(err)
	}
	if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 3 || list.Items[0].Kind != "ConfigMap" || list.Items[0].APIVersion != "v1" {
		t.Fatalf("-o json list = %+v", list)
	}

	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-o", "jsonpath={.items[*].metadata.name}"}, "alpha beta gamma"},
		{[]string{"-o", `jsonpath={range .items[*]}{.metadata.name}={.data.rank}{"\n"}{end}`}, "alpha=3\nbeta=1\ngamma=2\n"},
		{[]string{"-o", "go-template={{range .items}}{{.metadata.name}};{{end}}"}, "alpha;beta;gamma;"},
		{[]string{"-o", "name"}, "configmap/alpha\nconfigmap/beta\nconfigmap/gamma\n"},
		{[]string{"-o", "name", "--sort-by=.data.rank"}, "configmap/beta\nconfigmap/gamma\nconfigmap/alpha\n"},
		{[]string{"--no-headers", "-o", "custom-columns=N:.metadata.name"}, "alpha\nbeta\ngamma\n"},
	}
	for _, tc := range cases {
		wantOut(t, e.run(t, append(append([]string{"get", "cm"}, sel...), tc.args...)...), tc.want)
	}
	wantOut(t, e.run(t, "get", "cm", "alpha", "-o", "jsonpath={.metadata.labels.tier}"), "front")
	out = e.must(t, "get", "cm", "-l", "set=fmt", "-o", "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier,RANK:.data.rank")
	wantHeader(t, out, "NAME", "TIER", "RANK")
	wantColumn(t, out, "TIER", "front", "back", "<none>")
	wantColumn(t, out, "RANK", "3", "1", "2")

	out = e.must(t, "get", "cm", "-l", "set=fmt", "-o", "wide")
	wantHeader(t, out, "NAME", "DATA", "AGE")
	wantColumn(t, out, "DATA", "2", "1", "1")
	r := e.run(t, "get", "cm", "missing")
	wantErr(t, r, "Error from server (NotFound): configmaps \"missing\" not found\n")
}

func testGetSelectors(t *testing.T, e *env) {
	e.mustStdin(t, pod("p1", "app: web, tier: front")+"---\n"+pod("p2", "app: web, tier: back")+"---\n"+pod("p3", "app: db"), "create", "-f", "-")

	names := func(args ...string) string {
		t.Helper()
		r := e.run(t, append([]string{"get", "pods", "-o", "name"}, args...)...)
		if r.Err != nil {
			t.Fatalf("get pods %v: %v\n%s", args, r.Err, r.Stderr)
		}
		return strings.Join(strings.Fields(strings.ReplaceAll(r.Stdout, "pod/", "")), " ")
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-l", "app=web"}, "p1 p2"},
		{[]string{"-l", "app==web,tier=back"}, "p2"},
		{[]string{"-l", "app!=web"}, "p3"},
		{[]string{"-l", "tier in (front,back)"}, "p1 p2"},
		{[]string{"-l", "app=web,tier notin (back)"}, "p1"},
		{[]string{"-l", "!tier"}, "p3"},
		{[]string{"-l", "tier"}, "p1 p2"},
		{[]string{"--field-selector", "status.phase=Pending"}, "p1 p2 p3"},
		{[]string{"--field-selector", "status.phase!=Pending"}, ""},
		{[]string{"--field-selector", "spec.nodeName="}, "p1 p2 p3"},
		{[]string{"--field-selector", "spec.nodeName=elsewhere"}, ""},
		{[]string{"--field-selector", "metadata.name=p2"}, "p2"},
		{[]string{"--field-selector", "metadata.name!=p2,status.phase=Pending", "-l", "app=web"}, "p1"},
		{[]string{"-l", "app=web", "--sort-by", "{.metadata.labels.tier}"}, "p2 p1"},
	}
	for _, tc := range cases {
		if got := names(tc.args...); got != tc.want {
			t.Errorf("get pods %q = %q, want %q", tc.args, got, tc.want)
		}
	}

	// Pages of one (limit and continue): one table, one header.
	out := e.must(t, "get", "pods", "--chunk-size=1")
	wantHeader(t, out, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
	wantColumn(t, out, "NAME", "p1", "p2", "p3")

	r := e.run(t, "get", "pods", "--field-selector", "status.phase=Running")
	if r.Err != nil || r.Stdout != "" || r.Stderr != "No resources found in "+e.ns+" namespace.\n" {
		t.Fatalf("empty list: err %v stdout %q stderr %q", r.Err, r.Stdout, r.Stderr)
	}
	wantErr(t, e.run(t, "get", "pods", "--field-selector", "foo=bar"),
		`Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "", field selector "foo=bar": field label not supported: foo`+"\n")
	// Resources without field selectors of their own know only the metadata ones.
	wantErr(t, e.run(t, "get", "cm", "--field-selector", "data.a=b"),
		`Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match label selector "", field selector "data.a=b": "data.a" is not a known field selector: only "metadata.name", "metadata.namespace"`+"\n")

	out = e.must(t, "get", "pods", "--show-labels")
	wantHeader(t, out, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS")
	wantColumn(t, out, "LABELS", "app=web,tier=front", "app=web,tier=back", "app=db")
	wantColumn(t, out, "STATUS", "Pending", "Pending", "Pending")
	out = e.must(t, "get", "pods", "-L", "tier", "-L", "app")
	wantHeader(t, out, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "TIER", "APP")
	wantColumn(t, out, "APP", "web", "web", "db")
	out = e.must(t, "get", "pods", "-A", "-l", "app=web", "--field-selector", "metadata.namespace="+e.ns)
	wantHeader(t, out, "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE")
	wantColumn(t, out, "NAMESPACE", e.ns, e.ns)
}

// pod is a one-container pod manifest with the given labels (YAML flow mapping body).
func pod(name, labels string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", labels: {" + labels + "}}\n" +
		"spec: {containers: [{name: c, image: busybox}]}\n"
}

func testWatch(t *testing.T, e *env) {
	e.mustStdin(t, pod("w1", "app: w"), "create", "-f", "-")

	// Plain watch: the header once, then a row per change, as kubectl prints Table watches.
	w := e.start(t, "get", "pods", "-w")
	line, skipped := w.next(t, 30*time.Second, rowFor("w1", "0/1", "Pending", "0"))
	if len(skipped) != 1 || strings.Join(cells(skipped[0]), " ") != "NAME READY STATUS RESTARTS AGE" {
		t.Fatalf("before the first row: %q (row %q)", skipped, line)
	}
	e.must(t, "label", "pod", "w1", "changed=yes")
	w.next(t, 30*time.Second, rowFor("w1", "0/1", "Pending", "0"))
	e.mustStdin(t, pod("w2", "app: w"), "create", "-f", "-")
	w.next(t, 30*time.Second, rowFor("w2", "0/1", "Pending", "0"))
	w.stop()

	// --output-watch-events names each event; -o wide keeps the wide columns.
	w = e.start(t, "get", "pods", "-w", "--output-watch-events", "-o", "wide", "-l", "app=w")
	_, skipped = w.next(t, 30*time.Second, rowFor("ADDED", "w1"))
	if len(skipped) != 1 || strings.Join(cells(skipped[0]), "|") != "EVENT|NAME|READY|STATUS|RESTARTS|AGE|IP|NODE|NOMINATED NODE|READINESS GATES" {
		t.Fatalf("before the first row: %q", skipped)
	}
	w.next(t, 30*time.Second, rowFor("ADDED", "w2"))
	e.must(t, "annotate", "pod", "w2", "note=x")
	w.next(t, 30*time.Second, rowFor("MODIFIED", "w2"))
	e.must(t, "delete", "pod", "w2")
	w.next(t, 30*time.Second, rowFor("DELETED", "w2"))
	w.stop()

	// --watch-only skips the initial list (so w3 is created once the watch is up). The
	// events are named: w1 may still change while the watch runs — the scheduler rewrites
	// its PodScheduled message when another check adds a node — and such a change is
	// printed, as MODIFIED; the initial list's items would be ADDED.
	w = e.startWatch(t, "get", "pods", "--watch-only", "--output-watch-events", "-l", "app=w")
	e.mustStdin(t, pod("w3", "app: w"), "create", "-f", "-")
	_, skipped = w.next(t, 30*time.Second, rowFor("ADDED", "w3"))
	for _, l := range skipped {
		if rowFor("ADDED", "w1")(l) {
			t.Fatalf("--watch-only printed the existing pod: %q", skipped)
		}
	}
}
