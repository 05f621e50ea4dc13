package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/pki"
	"github.com/berth/berth/test/integration/framework"
)

// kubectlAs runs the real kubectl with a kubeconfig and returns stdout, stderr and the
// exit code.
func kubectlAs(t *testing.T, c *framework.Cluster, kubeconfig string, args ...string) (string, string, int) {
	t.Helper()
	r := c.KubectlWith(t, kubeconfig, args...)
	var exit *exec.ExitError
	switch {
	case r.Err == nil:
		return r.Stdout, r.Stderr, 0
	case errors.As(r.Err, &exit):
		return r.Stdout, r.Stderr, exit.ExitCode()
	}
	t.Fatalf("kubectl %v: %v", args, r.Err)
	return "", "", 0
}

// nodeTokenKubeconfig writes a kubeconfig that acts with the cluster's node token.
func nodeTokenKubeconfig(t *testing.T, c *framework.Cluster) string {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(c.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	return c.TokenKubeconfig(t, strings.TrimSpace(string(token)))
}

// joinNode trades the node token for the credential of one node and returns its client.
func joinNode(t *testing.T, c *framework.Cluster, name string) kubernetes.Interface {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(c.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, keyPEM, err := pki.NewCSR(name)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(&rest.Config{Host: c.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.Config.Host+apiserver.NodeCredentialPath+"?node="+name, bytes.NewReader(csrPEM))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cred apiserver.NodeCredentialResponse
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("join %s: status %d", name, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&cred); err != nil {
		t.Fatal(err)
	}
	return clientWith(t, c, "", cred.Certificate, keyPEM)
}

// TestKubectlAuthCanI: kubectl auth can-i and can-i --list answer from berth's policy
// through SelfSubjectAccessReview and SelfSubjectRulesReview, which discovery lists.
func TestKubectlAuthCanI(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	nodeConfig := nodeTokenKubeconfig(t, c)

	tests := []struct {
		name       string
		kubeconfig string
		args       []string
		stdout     string
		exit       int
	}{
		{"admin creates pods", c.Kubeconfig, []string{"auth", "can-i", "create", "pods"}, "yes\n", 0},
		{"admin does anything", c.Kubeconfig, []string{"auth", "can-i", "*", "*"}, "yes\n", 0},
		{"admin posts anywhere", c.Kubeconfig, []string{"auth", "can-i", "post", "/anything"}, "yes\n", 0},
		{"node deletes no deployments", nodeConfig, []string{"auth", "can-i", "delete", "deployments"}, "no\n", 1},
		{"node lists pods", nodeConfig, []string{"auth", "can-i", "list", "pods", "-A"}, "yes\n", 0},
		{"node reads no pod logs", nodeConfig, []string{"auth", "can-i", "get", "pods", "--subresource", "log"}, "no\n", 1},
		{"node writes leases in kube-node-lease", nodeConfig, []string{"auth", "can-i", "update", "leases.coordination.k8s.io", "-n", "kube-node-lease"}, "yes\n", 0},
		{"node writes no leases elsewhere", nodeConfig, []string{"auth", "can-i", "update", "leases.coordination.k8s.io"}, "no\n", 1},
		{"node reads discovery", nodeConfig, []string{"auth", "can-i", "get", "/apis/apps"}, "yes\n", 0},
		{"node posts no discovery", nodeConfig, []string{"auth", "can-i", "post", "/apis"}, "no\n", 1},
		{"node reviews no other subject", nodeConfig, []string{"auth", "can-i", "create", "subjectaccessreviews"}, "no\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, exit := kubectlAs(t, c, tt.kubeconfig, tt.args...)
			if stdout != tt.stdout || exit != tt.exit {
				t.Errorf("kubectl %s: %q exit %d, want %q exit %d\nstderr: %s", strings.Join(tt.args, " "), stdout, exit, tt.stdout, tt.exit, stderr)
			}
		})
	}

	const header = "Resources|Non-Resource URLs|Resource Names|Verbs"
	t.Run("admin --list", func(t *testing.T) {
		stdout, stderr, exit := kubectlAs(t, c, c.Kubeconfig, "auth", "can-i", "--list")
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if exit != 0 || len(lines) < 3 || fields(lines[0]) != header || fields(lines[1]) != "*.*|[]|[]|[*]" {
			t.Fatalf("kubectl auth can-i --list: exit %d\n%s\nstderr: %s", exit, stdout, stderr)
		}
	})
	t.Run("node --list", func(t *testing.T) {
		stdout, stderr, exit := kubectlAs(t, c, nodeConfig, "auth", "can-i", "--list")
		if exit != 0 || !strings.HasPrefix(stdout, "Resources ") || strings.Contains(stdout, "*.*") {
			t.Fatalf("kubectl auth can-i --list: exit %d\n%s\nstderr: %s", exit, stdout, stderr)
		}
		rows := map[string]string{}
		for _, line := range strings.Split(stdout, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(line, " ") {
				rows[f[0]] = fields(line)
			}
		}
		for resource, want := range map[string]string{
			"pods":                 "pods|[]|[]|[get list watch delete]",
			"nodes":                "nodes|[]|[]|[get list watch create update patch delete]",
			"events.events.k8s.io": "events.events.k8s.io|[]|[]|[create update patch get list watch]",
			"selfsubjectaccessreviews.authorization.k8s.io": "selfsubjectaccessreviews.authorization.k8s.io|[]|[]|[create]",
		} {
			if rows[resource] != want {
				t.Errorf("row %s: %q, want %q", resource, rows[resource], want)
			}
		}
		if _, ok := rows["leases.coordination.k8s.io"]; ok {
			t.Errorf("leases listed outside kube-node-lease:\n%s", stdout)
		}
		stdout, _, _ = kubectlAs(t, c, nodeConfig, "auth", "can-i", "--list", "-n", "kube-node-lease")
		if !strings.Contains(stdout, "leases.coordination.k8s.io") {
			t.Errorf("no leases in kube-node-lease:\n%s", stdout)
		}
	})
	t.Run("api-resources", func(t *testing.T) {
		stdout := c.MustKubectl(t, "api-resources", "--api-group", "authorization.k8s.io", "-o", "wide", "--no-headers")
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			got = append(got, fields(line))
		}
		want := []string{
			"selfsubjectaccessreviews|authorization.k8s.io/v1|false|SelfSubjectAccessReview|create",
			"selfsubjectrulesreviews|authorization.k8s.io/v1|false|SelfSubjectRulesReview|create",
			"subjectaccessreviews|authorization.k8s.io/v1|false|SubjectAccessReview|create",
		}
		if !slices.Equal(got, want) {
			t.Errorf("api-resources:\n%s\nwant rows %q", stdout, want)
		}
	})
}

// fields joins a table row's columns (runs of two or more spaces apart) with "|".
func fields(line string) string {
	var cols []string
	for _, col := range strings.Split(line, "  ") {
		if col = strings.TrimSpace(col); col != "" {
			cols = append(cols, col)
		}
	}
	return strings.Join(cols, "|")
}

// TestAccessReviews: the review APIs through client-go — a node credential's rules name
// its node and say they are incomplete, admins review other users, and bad reviews get
// Kubernetes' errors.
func TestAccessReviews(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := context.Background()
	n2 := joinNode(t, c, "n2")

	t.Run("node credential rules", func(t *testing.T) {
		review, err := n2.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
			Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "kube-node-lease"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := review.Status
		if !st.Incomplete || !strings.Contains(st.EvaluationError, "n2") {
			t.Errorf("incomplete %v, evaluationError %q: want incomplete, naming the node", st.Incomplete, st.EvaluationError)
		}
		var named []string
		for _, r := range st.ResourceRules {
			if len(r.ResourceNames) > 0 {
				named = append(named, fmt.Sprintf("%v %v %v", r.Resources, r.Verbs, r.ResourceNames))
			}
			if slices.Contains(r.Verbs, "delete") && slices.Contains(r.Resources, "nodes") {
				t.Errorf("a node credential may not delete nodes: %+v", r)
			}
		}
		want := []string{"[nodes nodes/status] [create update patch] [n2]", "[leases] [create update patch delete] [n2]"}
		if !slices.Equal(named, want) {
			t.Errorf("rules with names %q, want %q", named, want)
		}
	})
	t.Run("node credential access", func(t *testing.T) {
		for name, want := range map[string]bool{"n2": true, "n9": false} {
			review, err := n2.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "update", Resource: "nodes", Name: name}},
			}, metav1.CreateOptions{})
			if err != nil || review.Status.Allowed != want || review.Spec.ResourceAttributes.Name != name {
				t.Errorf("n2 may update node %s: %+v %v, want %v", name, review, err, want)
			}
		}
	})
	t.Run("admin reviews another subject", func(t *testing.T) {
		for verb, want := range map[string]bool{"get": true, "delete": false} {
			review, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{User: "system:node:n2", Groups: []string{"system:nodes"},
					ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: "secrets", Namespace: "default"}},
			}, metav1.CreateOptions{})
			if err != nil || review.Status.Allowed != want {
				t.Errorf("%s secrets as n2: %+v %v, want %v", verb, review.Status, err, want)
			}
		}
		_, err := n2.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: "admin", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets"}},
		}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("a node reviews another subject: %v, want 403", err)
		}
	})
	t.Run("bad reviews", func(t *testing.T) {
		_, err := c.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
		if want := `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified`; !apierrors.IsInvalid(err) || err.Error() != want {
			t.Errorf("empty review: %v\nwant %s", err, want)
		}
		_, err = c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}},
		}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.user: Invalid value: \"\": at least one of user or group must be specified") {
			t.Errorf("review without a subject: %v", err)
		}
		_, err = c.Client.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{}, metav1.CreateOptions{})
		if !apierrors.IsBadRequest(err) || err.Error() != "no namespace on request" {
			t.Errorf("rules review without a namespace: %v", err)
		}
		err = c.Client.AuthorizationV1().RESTClient().Get().Resource("selfsubjectaccessreviews").Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("GET selfsubjectaccessreviews: %v, want 405", err)
		}
		err = c.Client.AuthorizationV1().RESTClient().Post().Resource("localsubjectaccessreviews").Body([]byte("{}")).Do(ctx).Error()
		if !apierrors.IsNotFound(err) {
			t.Errorf("POST localsubjectaccessreviews (not served): %v, want 404", err)
		}
	})
}
