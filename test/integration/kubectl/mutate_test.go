package kubectl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configMap is a ConfigMap manifest with one data key.
func configMap(name, key, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {" + key + ": \"" + value + "\"}\n"
}

func testLabelAnnotate(t *testing.T, e *env) {
	e.must(t, "create", "configmap", "la")
	e.must(t, "create", "configmap", "lb")
	wantOut(t, e.run(t, "label", "cm", "la", "a=b"), "configmap/la labeled\n")
	wantErr(t, e.run(t, "label", "cm", "la", "a=c"), "error: 'a' already has a value (b), and --overwrite is false\n")
	wantOut(t, e.run(t, "label", "cm", "la", "a=c", "--overwrite"), "configmap/la labeled\n")
	wantOut(t, e.run(t, "get", "cm", "la", "-o", "jsonpath={.metadata.labels}"), `{"a":"c"}`)
	wantOut(t, e.run(t, "label", "cm", "la", "a-"), "configmap/la unlabeled\n")
	wantOut(t, e.run(t, "label", "cm", "la", "a-"), "label \"a\" not found.\nconfigmap/la not labeled\n")
	wantOut(t, e.run(t, "label", "cm", "--all", "tier=x", "k=v"), "configmap/kube-root-ca.crt labeled\nconfigmap/la labeled\nconfigmap/lb labeled\n")
	wantOut(t, e.run(t, "label", "cm", "-l", "tier=x", "tier-"), "configmap/kube-root-ca.crt unlabeled\nconfigmap/la unlabeled\nconfigmap/lb unlabeled\n")
	wantOut(t, e.run(t, "get", "cm", "lb", "-o", "jsonpath={.metadata.labels}"), `{"k":"v"}`)
	// A stale --resource-version is a precondition the server enforces (409).
	wantErr(t, e.run(t, "label", "cm", "la", "z=1", "--resource-version=1"),
		"Error from server (Conflict): Operation cannot be fulfilled on configmaps \"la\": the object has been modified; please apply your changes to the latest version and try again\n")
	rv := e.must(t, "get", "cm", "la", "-o", "jsonpath={.metadata.resourceVersion}")
	wantOut(t, e.run(t, "label", "cm", "la", "z=1", "--resource-version="+rv), "configmap/la labeled\n")
	wantErr(t, e.run(t, "label", "cm", "missing", "a=b"), "Error from server (NotFound): configmaps \"missing\" not found\n")

	wantOut(t, e.run(t, "annotate", "cm", "la", "note=hi"), "configmap/la annotated\n")
	wantErr(t, e.run(t, "annotate", "cm", "la", "note=bye"),
		"error: --overwrite is false but found the following declared annotation(s): 'note' already has a value (hi)\n")
	wantOut(t, e.run(t, "annotate", "cm", "la", "note=bye", "--overwrite"), "configmap/la annotated\n")
	wantOut(t, e.run(t, "get", "cm", "la", "-o", "jsonpath={.metadata.annotations.note}"), "bye")
	wantOut(t, e.run(t, "annotate", "cm", "la", "note-"), "configmap/la annotated\n")
	wantOut(t, e.run(t, "get", "cm", "la", "-o", "jsonpath={.metadata.annotations}"), "")
}

func testPatch(t *testing.T, e *env) {
	e.mustStdin(t, pod("pp", "app: pp"), "create", "-f", "-")
	image := func() string { return e.must(t, "get", "pod", "pp", "-o", "jsonpath={.spec.containers[*].image}") }

	// Strategic merge patch merges containers by name.
	wantOut(t, e.run(t, "patch", "pod", "pp", "-p", `{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`), "pod/pp patched\n")
	if got := image(); got != "busybox:2" {
		t.Fatalf("after strategic merge patch: images %q", got)
	}
	wantOut(t, e.run(t, "patch", "pod", "pp", "--type", "strategic", "-p", `{"metadata":{"labels":{"s":"1"}}}`), "pod/pp patched\n")
	wantOut(t, e.run(t, "patch", "pod", "pp", "-p", `{"metadata":{"labels":{"s":"1"}}}`), "pod/pp patched (no change)\n")
	// A merge patch sets what it names; null removes.
	wantOut(t, e.run(t, "patch", "pod", "pp", "--type", "merge", "-p", `{"metadata":{"labels":{"m":"1","s":null}}}`), "pod/pp patched\n")
	wantOut(t, e.run(t, "get", "pod", "pp", "-o", "jsonpath={.metadata.labels}"), `{"app":"pp","m":"1"}`)
	// A JSON patch.
	wantOut(t, e.run(t, "patch", "pod", "pp", "--type", "json", "-p", `[{"op":"replace","path":"/spec/containers/0/image","value":"busybox:3"},{"op":"add","path":"/metadata/labels/j","value":"1"}]`), "pod/pp patched\n")
	if got := image(); got != "busybox:3" {
		t.Fatalf("after JSON patch: images %q", got)
	}

	// JSON patches that do not apply are 422s without details, as kube-apiserver words them.
	for _, p := range []string{
		`[{"op":"remove","path":"/metadata/labels/nope"}]`,
		`[{"op":"test","path":"/metadata/labels/m","value":"2"}]`,
		`[{"op":"add","path":"/spec/nope/deeper","value":1}]`,
	} {
		wantErr(t, e.run(t, "patch", "pod", "pp", "--type", "json", "-p", p),
			"The request is invalid: the server rejected our request due to an error in our request\n")
	}
	wantErr(t, e.run(t, "patch", "pod", "pp", "--type", "json", "-p", `{"op":"add"}`),
		"Error from server (BadRequest): error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp\n")
	wantErr(t, e.run(t, "patch", "pod", "missing", "-p", `{"metadata":{"labels":{"a":"b"}}}`),
		"Error from server (NotFound): pods \"missing\" not found\n")
	// A patch whose result does not decode is Invalid on the field "patch".
	wantErr(t, e.run(t, "patch", "pod", "pp", "-p", `{"spec":{"containers":1}}`),
		"The request is invalid: patch: Invalid value: \"map[spec:map[containers:1]]\": cannot restore slice from int64\n")
	// Unknown fields are warnings (kubectl patch sends no fieldValidation: Warn).
	r := e.run(t, "patch", "pod", "pp", "--type", "merge", "-p", `{"spec":{"bogus":1}}`)
	wantOut(t, r, "pod/pp patched (no change)\n")
	if r.Stderr != "Warning: unknown field \"spec.bogus\"\n" {
		t.Fatalf("stderr %q", r.Stderr)
	}
	// Validation applies to the patched object.
	r = e.run(t, "patch", "pod", "pp", "--type", "merge", "-p", `{"metadata":{"labels":{"bad":"-x-"}}}`)
	if exitCode(r) != 1 || !strings.HasPrefix(r.Stderr, "The Pod \"pp\" is invalid: metadata.labels: Invalid value: \"-x-\": a valid label must be an empty string or consist of alphanumeric characters") {
		t.Fatalf("invalid label by patch: code %d stderr %q", exitCode(r), r.Stderr)
	}

	// Patching a subresource: scale and status.
	e.mustStdin(t, `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: prs}
spec:
  replicas: 0
  selector: {matchLabels: {app: prs}}
  template:
    metadata: {labels: {app: prs}}
    spec: {containers: [{name: c, image: busybox}]}
`, "create", "-f", "-")
	// kubectl names what the server returned: a Scale.
	wantOut(t, e.run(t, "patch", "rs", "prs", "--subresource=scale", "--type=merge", "-p", `{"spec":{"replicas":2}}`), "scale.autoscaling/prs patched\n")
	wantOut(t, e.run(t, "get", "rs", "prs", "-o", "jsonpath={.spec.replicas}"), "2")
	wantOut(t, e.run(t, "patch", "rs", "prs", "--subresource=scale", "--type=merge", "-p", `{"spec":{"replicas":0}}`), "scale.autoscaling/prs patched\n")
	wantOut(t, e.run(t, "patch", "pod", "pp", "--subresource=status", "--type=merge", "-p", `{"status":{"message":"from the test"}}`), "pod/pp patched\n")
	wantOut(t, e.run(t, "get", "pod", "pp", "-o", "jsonpath={.status.message}"), "from the test")
}

// conflictHelp is kubectl's advice after a server-side apply conflict.
const conflictHelp = `Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the ` + "`--force-conflicts`" + ` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
`

func testApplyServerSide(t *testing.T, e *env) {
	// Client-side apply, then server-side apply takes over the fields (kubectl migrates
	// the client-side managed fields to the "kubectl" manager).
	wantOut(t, e.stdin(t, configMap("ssa", "a", "1"), "apply", "-f", "-"), "configmap/ssa created\n")
	wantOut(t, e.stdin(t, configMap("ssa", "a", "1"), "apply", "-f", "-"), "configmap/ssa unchanged\n")
	wantOut(t, e.stdin(t, configMap("ssa", "a", "1"), "apply", "--server-side", "-f", "-"), "configmap/ssa serverside-applied\n")
	managers := e.must(t, "get", "cm", "ssa", "-o", `jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}`)
	if !strings.Contains(managers, "kubectl/Apply ") || strings.Contains(managers, "kubectl-client-side-apply") {
		t.Fatalf("managers after the switch to server-side apply: %q", managers)
	}

	// Another manager conflicts on the field kubectl owns, until it forces.
	wantErr(t, e.stdin(t, configMap("ssa", "a", "2"), "apply", "--server-side", "--field-manager=other", "-f", "-"),
		"error: Apply failed with 1 conflict: conflict with \"kubectl\": .data.a\n"+conflictHelp)
	wantOut(t, e.stdin(t, configMap("ssa", "a", "2"), "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-"),
		"configmap/ssa serverside-applied\n")
	wantOut(t, e.run(t, "get", "cm", "ssa", "-o", "jsonpath={.data.a}"), "2")
	managers = e.must(t, "get", "cm", "ssa", "-o", `jsonpath={range .metadata.managedFields[*]}{.manager}={.fieldsV1} {end}`)
	if !strings.Contains(managers, `other={"f:data":{"f:a":{}}}`) {
		t.Fatalf("managed fields after --force-conflicts: %q", managers)
	}
	// Agreeing with the current value is no conflict (co-ownership).
	wantOut(t, e.stdin(t, configMap("ssa", "a", "2"), "apply", "--server-side", "--field-manager=third", "-f", "-"), "configmap/ssa serverside-applied\n")

	// A field set by an update names the manager and the API version in the conflict.
	e.must(t, "create", "configmap", "upd", "--from-literal=a=1")
	wantErr(t, e.stdin(t, configMap("upd", "a", "2"), "apply", "--server-side", "-f", "-"),
		"error: Apply failed with 1 conflict: conflict with \"kubectl-create\" using v1: .data.a\n"+conflictHelp)

	// Server-side apply creates, and dry runs change nothing.
	wantOut(t, e.stdin(t, configMap("fresh", "a", "1"), "apply", "--server-side", "--dry-run=server", "-f", "-"), "configmap/fresh serverside-applied (server dry run)\n")
	wantErr(t, e.run(t, "get", "cm", "fresh"), "Error from server (NotFound): configmaps \"fresh\" not found\n")
	wantOut(t, e.stdin(t, configMap("fresh", "a", "1"), "apply", "--server-side", "-f", "-"), "configmap/fresh serverside-applied\n")
	wantOut(t, e.stdin(t, configMap("fresh", "a", "1"), "apply", "--server-side", "-f", "-"), "configmap/fresh serverside-applied\n")
}

func testDiffEdit(t *testing.T, e *env) {
	wantOut(t, e.stdin(t, configMap("d", "a", "1"), "apply", "-f", "-"), "configmap/d created\n")

	r := e.stdin(t, configMap("d", "a", "1"), "diff", "-f", "-")
	if exitCode(r) != 0 || r.Stdout != "" {
		t.Fatalf("diff without changes: code %d stdout %q stderr %q", exitCode(r), r.Stdout, r.Stderr)
	}
	r = e.stdin(t, configMap("d", "a", "2"), "diff", "-f", "-")
	if exitCode(r) != 1 || !strings.Contains(r.Stdout, "\n-  a: \"1\"\n+  a: \"2\"\n") || !strings.HasPrefix(r.Stdout, "diff -u -N ") {
		t.Fatalf("diff with a change: code %d stdout %q stderr %q", exitCode(r), r.Stdout, r.Stderr)
	}
	r = e.stdin(t, configMap("d2", "a", "1"), "diff", "-f", "-")
	if exitCode(r) != 1 || !strings.Contains(r.Stdout, "+  name: d2\n") {
		t.Fatalf("diff of a new object: code %d stdout %q stderr %q", exitCode(r), r.Stdout, r.Stderr)
	}
	r = e.stdin(t, configMap("d", "a", "2"), "diff", "--server-side", "-f", "-")
	if exitCode(r) != 1 || !strings.Contains(r.Stdout, "+  a: \"2\"\n") {
		t.Fatalf("server-side diff: code %d stdout %q stderr %q", exitCode(r), r.Stdout, r.Stderr)
	}
	// diff changed nothing.
	wantOut(t, e.run(t, "get", "cm", "d", "-o", "jsonpath={.data.a}"), "1")

	// kubectl edit runs $KUBE_EDITOR on the object's YAML and sends the change.
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/^  a: \"1\"$/  a: edited/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantOut(t, e.kubectl(t, "", []string{"KUBE_EDITOR=" + editor}, "edit", "cm", "d"), "configmap/d edited\n")
	wantOut(t, e.run(t, "get", "cm", "d", "-o", "jsonpath={.data.a}"), "edited")
	r = e.kubectl(t, "", []string{"KUBE_EDITOR=" + editor}, "edit", "cm", "d")
	if r.Err != nil || r.Stderr != "Edit cancelled, no changes made.\n" {
		t.Fatalf("edit without change: %v stdout %q stderr %q", r.Err, r.Stdout, r.Stderr)
	}
}

func testScale(t *testing.T, e *env) {
	e.mustStdin(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: sd}
spec:
  replicas: 1
  selector: {matchLabels: {app: sd}}
  template:
    metadata: {labels: {app: sd}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: sr, labels: {kind: scalable}}
spec:
  replicas: 1
  selector: {matchLabels: {app: sr}}
  template:
    metadata: {labels: {app: sr}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: sc}
spec:
  replicas: 1
  selector: {app: sc}
  template:
    metadata: {labels: {app: sc}}
    spec: {containers: [{name: c, image: busybox}]}
`, "create", "-f", "-")
	replicas := func(resource string) string {
		return e.must(t, "get", resource, "-o", "jsonpath={.spec.replicas}")
	}
	wantOut(t, e.run(t, "scale", "deployment", "sd", "--replicas=3"), "deployment.apps/sd scaled\n")
	wantOut(t, e.run(t, "scale", "rs", "sr", "--replicas=2"), "replicaset.apps/sr scaled\n")
	wantOut(t, e.run(t, "scale", "rc", "sc", "--replicas=2"), "replicationcontroller/sc scaled\n")
	for resource, want := range map[string]string{"deploy/sd": "3", "rs/sr": "2", "rc/sc": "2"} {
		if got := replicas(resource); got != want {
			t.Errorf("%s replicas %s, want %s", resource, got, want)
		}
	}
	wantErr(t, e.run(t, "scale", "deployment", "sd", "--current-replicas=2", "--replicas=4"), "error: Expected replicas to be 2, was 3\n")
	wantOut(t, e.run(t, "scale", "deployment", "sd", "--current-replicas=3", "--replicas=0"), "deployment.apps/sd scaled\n")
	wantOut(t, e.run(t, "scale", "rs", "-l", "kind=scalable", "--replicas=0"), "replicaset.apps/sr scaled\n")
	wantOut(t, e.run(t, "scale", "rc/sc", "deploy/sd", "--replicas=1"), "replicationcontroller/sc scaled\ndeployment.apps/sd scaled\n")
	wantErr(t, e.run(t, "scale", "deployment", "missing", "--replicas=1"), "Error from server (NotFound): deployments.apps \"missing\" not found\n")

	// The scale subresource as kubectl reads it: a Table of its own, and the object.
	out := e.must(t, "get", "deployment", "sd", "--subresource=scale")
	wantHeader(t, out, "NAME", "DESIRED", "AVAILABLE")
	wantColumn(t, out, "DESIRED", "1")
	wantOut(t, e.run(t, "get", "rc", "sc", "--subresource=scale", "-o", "jsonpath={.kind} {.spec.replicas} {.status.selector}"), "Scale 1 app=sc")
	out = e.must(t, "get", "--raw", "/apis/apps/v1/namespaces/"+e.ns+"/deployments/sd/scale")
	for _, want := range []string{`"kind":"Scale"`, `"apiVersion":"autoscaling/v1"`, `"spec":{"replicas":1}`, `"selector":"app=sd"`} {
		if !strings.Contains(out, want) {
			t.Errorf("scale subresource lacks %s: %s", want, out)
		}
	}
}
