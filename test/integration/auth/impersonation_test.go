package auth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/test/integration/framework"
)

// TestImpersonation: kubectl --as/--as-group act as the user they name (as
// kube-apiserver's impersonation filter), when the caller may impersonate — under berth's
// built-in policy, admins only.
func TestImpersonation(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	nodeConfig := nodeTokenKubeconfig(t, c)
	for _, tt := range []struct {
		name       string
		kubeconfig string
		args       []string
		stdout     string
		stderr     string
		exit       int
	}{
		{"a plain user may not list pods", c.Kubeconfig, []string{"auth", "can-i", "list", "pods", "--as=bob"}, "no\n", "", 1},
		{"in the masters group it may", c.Kubeconfig, []string{"auth", "can-i", "list", "pods", "--as=bob", "--as-group=system:masters"}, "yes\n", "", 0},
		{"a node user reads nodes", c.Kubeconfig, []string{"auth", "can-i", "list", "nodes", "--as=system:node:n1", "--as-group=system:nodes"}, "yes\n", "", 0},
		{"a node user deletes no deployments", c.Kubeconfig, []string{"auth", "can-i", "delete", "deployments", "--as=system:node:n1", "--as-group=system:nodes"}, "no\n", "", 1},
		{"a service account is refused as itself", c.Kubeconfig, []string{"get", "pods", "--as=system:serviceaccount:default:default"}, "",
			`Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"` + "\n", 1},
		{"a node may not impersonate", nodeConfig, []string{"get", "pods", "--as=bob"}, "",
			`Error from server (Forbidden): users "bob" is forbidden: User "system:node-bootstrap" cannot impersonate resource "users" in API group "" at the cluster scope` + "\n", 1},
		{"nor a service account", nodeConfig, []string{"get", "pods", "--as=system:serviceaccount:kube-system:default"}, "",
			`Error from server (Forbidden): serviceaccounts "default" is forbidden: User "system:node-bootstrap" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "kube-system"` + "\n", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, exit := kubectlAs(t, c, tt.kubeconfig, tt.args...)
			if stdout != tt.stdout || exit != tt.exit || (tt.stderr != "" && stderr != tt.stderr) {
				t.Errorf("kubectl %s:\nstdout %q exit %d\nstderr %q\nwant %q exit %d, stderr %q", strings.Join(tt.args, " "), stdout, exit, stderr, tt.stdout, tt.exit, tt.stderr)
			}
		})
	}

	t.Run("groups without a user are a bad request", func(t *testing.T) {
		cfg := rest.CopyConfig(c.Config)
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set("Impersonate-Group", "system:masters")
				return rt.RoundTrip(r)
			})
		}
		_, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "Impersonate-User") {
			t.Fatalf("want 400 naming Impersonate-User, got %v", err)
		}
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
