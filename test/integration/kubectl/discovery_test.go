package kubectl

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// servedResources are the rows kubectl api-resources prints for what berth serves, as
// Kubernetes prints them (NAME SHORTNAMES APIVERSION NAMESPACED KIND).
var servedResources = [][]string{
	{"configmaps", "cm", "v1", "true", "ConfigMap"},
	{"endpoints", "ep", "v1", "true", "Endpoints"},
	{"events", "ev", "v1", "true", "Event"},
	{"namespaces", "ns", "v1", "false", "Namespace"},
	{"nodes", "no", "v1", "false", "Node"},
	{"pods", "po", "v1", "true", "Pod"},
	{"replicationcontrollers", "rc", "v1", "true", "ReplicationController"},
	{"secrets", "", "v1", "true", "Secret"},
	{"serviceaccounts", "sa", "v1", "true", "ServiceAccount"},
	{"services", "svc", "v1", "true", "Service"},
	{"deployments", "deploy", "apps/v1", "true", "Deployment"},
	{"replicasets", "rs", "apps/v1", "true", "ReplicaSet"},
	{"leases", "", "coordination.k8s.io/v1", "true", "Lease"},
	{"endpointslices", "", "discovery.k8s.io/v1", "true", "EndpointSlice"},
	{"events", "", "events.k8s.io/v1", "true", "Event"},
	{"priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"},
	{"poddisruptionbudgets", "pdb", "policy/v1", "true", "PodDisruptionBudget"},
	{"selfsubjectaccessreviews", "", "authorization.k8s.io/v1", "false", "SelfSubjectAccessReview"},
	{"selfsubjectrulesreviews", "", "authorization.k8s.io/v1", "false", "SelfSubjectRulesReview"},
	{"subjectaccessreviews", "", "authorization.k8s.io/v1", "false", "SubjectAccessReview"},
}

// apiResourceRows parses api-resources output into rows keyed by NAME and APIVERSION;
// an empty SHORTNAMES cell is kept as "".
func apiResourceRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	ls := lines(out)
	header := ls[0]
	starts := []int{}
	for _, name := range []string{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"} {
		starts = append(starts, strings.Index(header, name))
	}
	rows := map[string][]string{}
	for _, l := range ls[1:] {
		var row []string
		for i, s := range starts {
			end := len(l)
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			row = append(row, strings.TrimSpace(l[s:min(end, len(l))]))
		}
		rows[row[0]+" "+row[2]] = row
	}
	return rows
}

func testDiscovery(t *testing.T, e *env) {
	out := e.must(t, "api-resources")
	wantHeader(t, out, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND")
	rows := apiResourceRows(t, out)
	for _, want := range servedResources {
		if got := rows[want[0]+" "+want[2]]; !slices.Equal(got, want) {
			t.Errorf("api-resources row %q, want %q", got, want)
		}
	}

	out = e.must(t, "api-resources", "--namespaced=false", "-o", "name")
	for _, want := range []string{"namespaces", "nodes"} {
		if !slices.Contains(lines(out), want) {
			t.Errorf("--namespaced=false lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pods") || strings.Contains(out, "deployments") {
		t.Errorf("--namespaced=false lists namespaced resources:\n%s", out)
	}
	out = e.must(t, "api-resources", "--api-group=apps", "-o", "name")
	if out != "deployments.apps\nreplicasets.apps\n" {
		t.Errorf("--api-group=apps -o name: %q", out)
	}

	out = e.must(t, "api-resources", "-o", "wide")
	wantHeader(t, out, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES")
	all := "create,delete,deletecollection,get,list,patch,update,watch"
	for _, want := range []struct{ row, verbs string }{
		{"pods", all + "   all"},
		{"deployments", all + "   all"},
		{"configmaps", all},
		{"namespaces", "create,delete,get,list,patch,update,watch"},
	} {
		found := false
		for _, l := range lines(out) {
			if strings.HasPrefix(l, want.row+" ") && strings.HasSuffix(strings.TrimRight(l, " "), want.verbs) {
				found = true
			}
		}
		if !found {
			t.Errorf("api-resources -o wide: no %s row ending in %q:\n%s", want.row, want.verbs, out)
		}
	}

	versions := lines(e.must(t, "api-versions"))
	for _, want := range []string{"apps/v1", "authorization.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1", "scheduling.k8s.io/v1", "v1"} {
		if !slices.Contains(versions, want) {
			t.Errorf("api-versions lacks %s: %q", want, versions)
		}
	}
	if !slices.IsSorted(versions) {
		t.Errorf("api-versions not sorted: %q", versions)
	}

	// The server's version; kubectl's own only when it was built with version ldflags
	// (make build), as an unversioned kubectl refuses to compare versions.
	var v struct {
		ClientVersion, ServerVersion struct{ Major, Minor, GitVersion string }
	}
	if err := json.Unmarshal([]byte(e.must(t, "get", "--raw", "/version")), &v.ServerVersion); err != nil ||
		v.ServerVersion.Major != "1" || v.ServerVersion.Minor != "37" || !strings.HasPrefix(v.ServerVersion.GitVersion, "v1.37.") {
		t.Errorf("/version: %+v (%v)", v.ServerVersion, err)
	}
	if err := json.Unmarshal([]byte(e.must(t, "version", "--client", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(v.ClientVersion.GitVersion, "v0.0.0") {
		t.Logf("kubectl %s has no version (not built by make build): skipping kubectl version", v.ClientVersion.GitVersion)
	} else {
		out = e.must(t, "version")
		if !strings.HasPrefix(out, "Client Version: v1.37.") || !strings.Contains(out, "\nServer Version: v1.37.") {
			t.Errorf("version:\n%s", out)
		}
	}
	out = e.must(t, "cluster-info")
	if !strings.HasPrefix(out, "Kubernetes control plane is running at https://127.0.0.1:") {
		t.Errorf("cluster-info:\n%s", out)
	}
	wantOut(t, e.run(t, "get", "--raw", "/readyz"), "ok")

	wantErr(t, e.run(t, "get", "frobnicators"), "error: the server doesn't have a resource type \"frobnicators\"\n")
}

func testExplain(t *testing.T, e *env) {
	cases := []struct {
		args []string
		want []string
	}{{
		[]string{"pod.spec.containers"},
		[]string{"KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>\n", "\nDESCRIPTION:\n    List of containers belonging to the pod.", "\nFIELDS:\n", "\n  name\t<string> -required-\n", "\n  image\t<string>\n", "\n  ports\t<[]ContainerPort>\n"},
	}, {
		[]string{"deployment.spec.strategy.rollingUpdate"},
		[]string{"GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nFIELD: rollingUpdate <RollingUpdateDeployment>\n", "\n  maxSurge\t<IntOrString>\n", "\n  maxUnavailable\t<IntOrString>\n"},
	}, {
		[]string{"deployments", "--api-version=apps/v1"},
		[]string{"GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n", "\n  spec\t<DeploymentSpec>\n", "\n  status\t<DeploymentStatus>\n"},
	}, {
		[]string{"pod", "--recursive"},
		[]string{"\n  spec\t<PodSpec>\n", "\n    containers\t<[]Container> -required-\n", "\n      name\t<string> -required-\n", "\n      livenessProbe\t<Probe>\n", "\n        httpGet\t<HTTPGetAction>\n"},
	}, {
		[]string{"svc.spec.ports.port"},
		[]string{"KIND:       Service\nVERSION:    v1\n\nFIELD: port <integer>\n"},
	}}
	for _, tc := range cases {
		out := e.must(t, append([]string{"explain"}, tc.args...)...)
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("explain %s lacks %q:\n%s", strings.Join(tc.args, " "), want, out)
			}
		}
	}
	wantErr(t, e.run(t, "explain", "pod.spec.nope"), "error: field \"nope\" does not exist\n")
	wantErr(t, e.run(t, "explain", "frobnicators"), "the server doesn't have a resource type \"frobnicators\"\n")
}
