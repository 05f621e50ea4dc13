package kubectl

import (
	"strings"
	"testing"
)

// immediateDeletionWarning is what kubectl prints for --grace-period=0 --force.
const immediateDeletionWarning = "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.\n"

func deployment(name string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + "}\nspec:\n  replicas: 1\n" +
		"  selector: {matchLabels: {app: " + name + "}}\n  template:\n    metadata: {labels: {app: " + name + "}}\n" +
		"    spec: {containers: [{name: c, image: busybox}]}\n"
}

func testDelete(t *testing.T, e *env) {
	deleted := func(kind, name string) string {
		return kind + " \"" + name + "\" deleted from " + e.ns + " namespace\n"
	}

	// Pods: plain, --now, forced, by selector, from a file.
	e.mustStdin(t, pod("d1", "set: a")+"---\n"+pod("d2", "set: a")+"---\n"+pod("d3", "set: b")+"---\n"+pod("d4", "set: c"), "create", "-f", "-")
	wantOut(t, e.run(t, "delete", "pod", "d1"), deleted("pod", "d1"))
	wantOut(t, e.run(t, "delete", "pod", "d2", "--now"), deleted("pod", "d2"))
	r := e.run(t, "delete", "pod", "d3", "--grace-period=0", "--force")
	wantOut(t, r, "pod \"d3\" force deleted from "+e.ns+" namespace\n")
	if r.Stderr != immediateDeletionWarning {
		t.Fatalf("--force stderr %q", r.Stderr)
	}
	wantOut(t, e.stdin(t, pod("d4", "set: c"), "delete", "-f", "-"), deleted("pod", "d4"))
	wantErr(t, e.run(t, "delete", "pod", "d1"), "Error from server (NotFound): pods \"d1\" not found\n")
	wantOut(t, e.run(t, "delete", "pod", "d1", "--ignore-not-found"), "")

	// A pod bound to a node waits for its kubelet: graceful deletion sets the deadline.
	e.mustStdin(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: bound}\nspec: {nodeName: k-delete-ghost, containers: [{name: c, image: busybox}]}\n", "create", "-f", "-")
	wantOut(t, e.run(t, "delete", "pod", "bound", "--grace-period=7", "--wait=false"), deleted("pod", "bound"))
	if r := e.run(t, "get", "pod", "bound", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds} {.metadata.deletionTimestamp}"); r.Err == nil {
		if got := strings.Fields(r.Stdout); len(got) != 2 || got[0] != "7" {
			t.Fatalf("bound pod after --grace-period=7: %q", r.Stdout)
		}
		wantOut(t, e.run(t, "get", "pod", "bound", "-o", "jsonpath={.status.phase}"), "Pending")
	}
	r = e.run(t, "delete", "pod", "bound", "--grace-period=0", "--force", "--ignore-not-found")
	if r.Err != nil {
		t.Fatalf("force delete of the bound pod: %v %s", r.Err, r.Stderr)
	}
	wantErr(t, e.run(t, "get", "pod", "bound"), "Error from server (NotFound): pods \"bound\" not found\n")

	// Selectors, --all, dry run and deletecollection.
	for _, n := range []string{"c1", "c2", "c3", "c4", "c5"} {
		e.must(t, "create", "configmap", n)
	}
	e.must(t, "label", "cm", "c1", "c2", "del=yes")
	e.must(t, "label", "cm", "c3", "c4", "coll=yes")
	wantOut(t, e.run(t, "delete", "cm", "-l", "del=yes"), deleted("configmap", "c1")+deleted("configmap", "c2"))
	wantOut(t, e.run(t, "delete", "cm", "c5", "--dry-run=server"), "configmap \"c5\" deleted from "+e.ns+" namespace (server dry run)\n")
	e.must(t, "get", "cm", "c5")
	out := e.must(t, "delete", "--raw", "/api/v1/namespaces/"+e.ns+"/configmaps?labelSelector=coll%3Dyes")
	if !strings.Contains(out, `"kind":"ConfigMapList"`) || !strings.Contains(out, `"name":"c3"`) || !strings.Contains(out, `"name":"c4"`) {
		t.Fatalf("deletecollection answered %s", out)
	}
	wantOut(t, e.run(t, "get", "cm", "-o", "name", "-l", "coll=yes"), "")
	out = e.must(t, "delete", "cm", "--all")
	if !strings.Contains(out, deleted("configmap", "c5")) {
		t.Fatalf("delete --all: %q", out)
	}

	// Cascading deletes. The garbage collector may or may not run in this cluster: check
	// what the API does (the finalizers it sets), and accept that a collector finished.
	e.mustStdin(t, deployment("bg")+"---\n"+deployment("orph")+"---\n"+deployment("fg"), "create", "-f", "-")
	wantOut(t, e.run(t, "delete", "deployment", "bg", "--cascade=background"), "deployment.apps \"bg\" deleted from "+e.ns+" namespace\n")
	wantErr(t, e.run(t, "get", "deploy", "bg"), "Error from server (NotFound): deployments.apps \"bg\" not found\n")
	for _, tc := range []struct{ name, cascade, finalizer string }{
		{"orph", "orphan", "orphan"},
		{"fg", "foreground", "foregroundDeletion"},
	} {
		wantOut(t, e.run(t, "delete", "deployment", tc.name, "--cascade="+tc.cascade, "--wait=false"),
			"deployment.apps \""+tc.name+"\" deleted from "+e.ns+" namespace\n")
		r := e.run(t, "get", "deploy", tc.name, "-o", "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}")
		if r.Err == nil && (!strings.Contains(r.Stdout, `"`+tc.finalizer+`"`) || strings.HasSuffix(r.Stdout, " ")) {
			t.Fatalf("--cascade=%s: deployment is left with %q", tc.cascade, r.Stdout)
		}
	}
}
