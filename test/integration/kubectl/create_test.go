package kubectl

import (
	"strings"
	"testing"
)

// Kubernetes' validation texts for names (apimachinery's IsDNS1123Subdomain/Label).
const (
	subdomainMsg = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
	labelMsg     = `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
)

// unknownFields is a pod with fields no Pod has.
const unknownFields = `apiVersion: v1
kind: Pod
metadata: {name: unknown}
spec: {containers: [{name: c, image: busybox, foo: bar}], bogus: 1}
`

func testCreateInvalid(t *testing.T, e *env) {
	cases := []struct {
		name     string
		args     []string
		manifest string
		stderr   string
	}{{
		name:   "run with a bad name",
		args:   []string{"run", "Foo_Bar", "--image=nginx"},
		stderr: "The Pod \"Foo_Bar\" is invalid: \n* metadata.name: Invalid value: \"Foo_Bar\": " + subdomainMsg + "\n* spec.containers[0].name: Invalid value: \"Foo_Bar\": " + labelMsg + "\n",
	}, {
		name:     "bad name in a manifest",
		manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Foo_Bar}\n",
		stderr:   "The ConfigMap \"Foo_Bar\" is invalid: metadata.name: Invalid value: \"Foo_Bar\": " + subdomainMsg + "\n",
	}, {
		name:     "missing image",
		manifest: "apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec: {containers: [{name: c}]}\n",
		stderr:   "The Pod \"noimage\" is invalid: spec.containers[0].image: Required value\n",
	}, {
		name: "selector does not match the template, negative replicas",
		manifest: `apiVersion: apps/v1
kind: Deployment
metadata: {name: badsel}
spec:
  replicas: -1
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: busybox}]}
`,
		stderr: "The Deployment \"badsel\" is invalid: \n* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n* spec.template.metadata.labels: Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`\n",
	}, {
		name:     "service port out of range",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: badport}\nspec: {ports: [{port: 0}]}\n",
		// targetPort is defaulted from port before validation: Kubernetes reports both.
		stderr: "The Service \"badport\" is invalid: \n* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n" +
			"* spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive\n",
	}, {
		name:     "unknown fields, --validate=strict",
		args:     []string{"--validate=strict"},
		manifest: unknownFields,
		stderr:   "Error from server (BadRequest): error when creating \"STDIN\": Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.bogus\", unknown field \"spec.containers[0].foo\"\n",
	}, {
		name:     "unknown kind version",
		manifest: "apiVersion: v2\nkind: Pod\nmetadata: {name: v2}\n",
		stderr:   "error: resource mapping not found for name: \"v2\" namespace: \"\" from \"STDIN\": no matches for kind \"Pod\" in version \"v2\"\nensure CRDs are installed first\n",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.manifest != "" {
				args = append([]string{"create", "-f", "-"}, args...)
			}
			wantErr(t, e.stdin(t, tc.manifest, args...), tc.stderr)
		})
	}

	// --validate=warn creates and warns; --validate=false (Ignore) says nothing.
	r := e.stdin(t, unknownFields, "create", "-f", "-", "--validate=warn")
	wantOut(t, r, "pod/unknown created\n")
	if r.Stderr != "Warning: unknown field \"spec.bogus\"\nWarning: unknown field \"spec.containers[0].foo\"\n" {
		t.Fatalf("--validate=warn stderr %q", r.Stderr)
	}
	r = e.stdin(t, strings.Replace(unknownFields, "name: unknown", "name: ignored", 1), "create", "-f", "-", "--validate=false")
	wantOut(t, r, "pod/ignored created\n")
	if r.Stderr != "" {
		t.Fatalf("--validate=false stderr %q", r.Stderr)
	}
	// The same through apply: the strategic merge patch's result has unknown fields, an
	// Invalid error on the field "patch" that prints the patch.
	r = e.stdin(t, strings.Replace(unknownFields, "name: unknown", "name: ignored", 1), "apply", "-f", "-")
	if exitCode(r) != 1 || !strings.Contains(r.Stderr, "\nThe request is invalid: patch: Invalid value: \"map[") ||
		!strings.HasSuffix(r.Stderr, "]\": strict decoding error: unknown field \"spec.bogus\", unknown field \"spec.containers[0].foo\"\n") {
		t.Fatalf("apply with unknown fields: code %d stderr %q", exitCode(r), r.Stderr)
	}

	// Names are unique.
	e.must(t, "create", "configmap", "dup")
	wantErr(t, e.run(t, "create", "configmap", "dup"), "error: failed to create configmap: configmaps \"dup\" already exists\n")
	wantErr(t, e.stdin(t, configMap("dup", "a", "1"), "create", "-f", "-"),
		"Error from server (AlreadyExists): error when creating \"STDIN\": configmaps \"dup\" already exists\n")
}

func testCreateSubcommands(t *testing.T, e *env) {
	get := func(args ...string) string { return e.must(t, append([]string{"get"}, args...)...) }

	wantOut(t, e.run(t, "create", "configmap", "c1", "--from-literal=a=b", "--from-literal=c=d"), "configmap/c1 created\n")
	if got := get("cm", "c1", "-o", "jsonpath={.data}"); got != `{"a":"b","c":"d"}` {
		t.Errorf("configmap data %s", got)
	}
	wantOut(t, e.run(t, "create", "secret", "generic", "s1", "--from-literal=p=q"), "secret/s1 created\n")
	if got := get("secret", "s1", "-o", "jsonpath={.type} {.data.p}"); got != "Opaque cQ==" {
		t.Errorf("secret: %s", got)
	}
	out := get("secret", "s1")
	wantHeader(t, out, "NAME", "TYPE", "DATA", "AGE")
	wantColumn(t, out, "TYPE", "Opaque")
	wantOut(t, e.run(t, "create", "deployment", "d1", "--image=nginx", "--replicas=2", "--port=80"), "deployment.apps/d1 created\n")
	if got := get("deploy", "d1", "-o", "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image}"); got != "2 d1 nginx" {
		t.Errorf("deployment: %s", got)
	}
	wantOut(t, e.run(t, "run", "nginx", "--image=nginx"), "pod/nginx created\n")
	if got := get("pod", "nginx", "-o", "jsonpath={.metadata.labels.run} {.spec.containers[0].name} {.spec.containers[0].image} {.spec.restartPolicy}"); got != "nginx nginx nginx Always" {
		t.Errorf("run: %s", got)
	}
	wantOut(t, e.run(t, "create", "service", "clusterip", "sv", "--tcp=80:8080"), "service/sv created\n")
	if got := get("svc", "sv", "-o", "jsonpath={.spec.type} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.selector.app}"); got != "ClusterIP 80 8080 sv" {
		t.Errorf("service: %s", got)
	}
	wantOut(t, e.run(t, "expose", "deployment", "d1", "--port=8080", "--target-port=80"), "service/d1 exposed\n")
	if got := get("svc", "d1", "-o", "jsonpath={.spec.selector.app} {.spec.ports[0].port}"); got != "d1 8080" {
		t.Errorf("exposed service: %s", got)
	}
	wantOut(t, e.run(t, "create", "serviceaccount", "robot"), "serviceaccount/robot created\n")
	wantOut(t, e.run(t, "create", "configmap", "c2", "--from-literal=a=b", "--dry-run=server"), "configmap/c2 created (server dry run)\n")
	wantErr(t, e.run(t, "get", "cm", "c2"), "Error from server (NotFound): configmaps \"c2\" not found\n")
	wantOut(t, e.run(t, "create", "configmap", "c3", "--from-literal=a=b", "--dry-run=server", "-o", "jsonpath={.metadata.name} {.metadata.namespace}"), "c3 "+e.ns)
	// generateName.
	out = e.mustStdin(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: gen-}\n", "create", "-f", "-", "-o", "name")
	if !strings.HasPrefix(out, "configmap/gen-") || len(out) != len("configmap/gen-12345\n") {
		t.Errorf("generateName: %q", out)
	}
}

func testNamespaces(t *testing.T, e *env) {
	out := e.must(t, "get", "namespaces", "default", "kube-system", "kube-public", "kube-node-lease", e.ns)
	wantHeader(t, out, "NAME", "STATUS", "AGE")
	wantColumn(t, out, "STATUS", "Active", "Active", "Active", "Active", "Active")

	// Creating in a namespace that does not exist.
	wantErr(t, e.run(t, "run", "x", "--image=nginx", "-n", "nope"), "Error from server (NotFound): namespaces \"nope\" not found\n")
	noNamespaceFlag := &env{c: e.c}
	wantErr(t, noNamespaceFlag.stdin(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nope}\n", "create", "-f", "-"),
		"Error from server (NotFound): error when creating \"STDIN\": namespaces \"nope\" not found\n")
	// The namespace is checked before the object is validated, as admission runs first.
	wantErr(t, e.stdin(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n", "create", "-n", "nope", "-f", "-"),
		"Error from server (NotFound): error when creating \"STDIN\": namespaces \"nope\" not found\n")

	// Creating in a terminating namespace. A finalizer on its content keeps it
	// terminating whether or not a namespace controller runs.
	term := e.ns + "-term"
	e.must(t, "create", "namespace", term)
	e.mustStdin(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hold, finalizers: [example.com/hold]}\n", "create", "-n", term, "-f", "-")
	t.Cleanup(func() {
		e.run(t, "patch", "cm", "hold", "-n", term, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	})
	r := noNamespaceFlag.run(t, "delete", "namespace", term, "--wait=false")
	wantOut(t, r, "namespace \""+term+"\" deleted\n")
	if r.Stderr != "" {
		t.Fatalf("delete namespace stderr %q", r.Stderr)
	}
	out = e.must(t, "get", "namespace", term)
	wantColumn(t, out, "STATUS", "Terminating")
	wantErr(t, e.run(t, "create", "configmap", "x", "-n", term),
		"error: failed to create configmap: configmaps \"x\" is forbidden: unable to create new content in namespace "+term+" because it is being terminated\n")
	wantErr(t, e.stdin(t, configMap("x", "a", "1"), "create", "-n", term, "-f", "-"),
		"Error from server (Forbidden): error when creating \"STDIN\": configmaps \"x\" is forbidden: unable to create new content in namespace "+term+" because it is being terminated\n")
	wantErr(t, e.stdin(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n", "create", "-n", term, "-f", "-"),
		"Error from server (Forbidden): error when creating \"STDIN\": configmaps \"x-\" is forbidden: unable to create new content in namespace "+term+" because it is being terminated\n")
	// Objects already there can still change (finalizers must be removable).
	wantOut(t, e.run(t, "label", "cm", "hold", "-n", term, "still=here"), "configmap/hold labeled\n")

	// The system namespaces are immortal.
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		wantErr(t, noNamespaceFlag.run(t, "delete", "namespace", ns, "--dry-run=server"),
			"Error from server (Forbidden): namespaces \""+ns+"\" is forbidden: this namespace may not be deleted\n")
	}
}
