package serviceaccount_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

func tokenSecretYAML(name, account string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
  annotations:
    kubernetes.io/service-account.name: %s
type: kubernetes.io/service-account-token
`, name, account)
}

// waitForToken waits until the tokens controller filled secret and returns its token.
func waitForToken(t *testing.T, c *framework.Cluster, secret string) string {
	t.Helper()
	var encoded string
	framework.Eventually(t, 30*time.Second, "token in secret "+secret, func() bool {
		r := c.Kubectl(t, "get", "secret", secret, "-o", "jsonpath={.data.token}")
		encoded = strings.TrimSpace(r.Stdout)
		return r.Err == nil && encoded != ""
	})
	token, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("token %q: %v", encoded, err)
	}
	return string(token)
}

// TestLegacyServiceAccountToken follows Kubernetes' "manually create a long-lived API
// token for a ServiceAccount": the tokens controller fills a Secret of type
// kubernetes.io/service-account-token, its token authenticates as the account while the
// Secret and the account exist, and deleting the account deletes its token Secrets.
func TestLegacyServiceAccountToken(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()
	c.MustKubectl(t, "create", "serviceaccount", "build-robot")
	if r := c.KubectlStdin(t, tokenSecretYAML("build-robot-secret", "build-robot"), "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}
	token := waitForToken(t, c, "build-robot-secret")

	sa, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "build-robot", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := c.Client.CoreV1().Secrets("default").Get(ctx, "build-robot-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := secret.Annotations["kubernetes.io/service-account.uid"]; got != string(sa.UID) {
		t.Errorf("uid annotation = %q, want %q", got, sa.UID)
	}
	if string(secret.Data["ca.crt"]) != string(c.Config.CAData) || string(secret.Data["namespace"]) != "default" {
		t.Errorf("ca.crt = %q, namespace = %q", secret.Data["ca.crt"], secret.Data["namespace"])
	}
	describe := c.MustKubectl(t, "describe", "secret", "build-robot-secret")
	for _, want := range []string{"Type:  kubernetes.io/service-account-token", "kubernetes.io/service-account.name: build-robot",
		"kubernetes.io/service-account.uid: " + string(sa.UID), "ca.crt:", "namespace:  7 bytes", "token:"} {
		if !strings.Contains(describe, want) {
			t.Errorf("describe secret lacks %q:\n%s", want, describe)
		}
	}

	// The legacy claims, as kube-controller-manager's tokens.
	claims := framework.JWTClaims(t, token)
	for k, v := range map[string]any{
		"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:default:build-robot",
		"kubernetes.io/serviceaccount/namespace":            "default",
		"kubernetes.io/serviceaccount/secret.name":          "build-robot-secret",
		"kubernetes.io/serviceaccount/service-account.name": "build-robot",
		"kubernetes.io/serviceaccount/service-account.uid":  string(sa.UID),
	} {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if _, ok := claims["exp"]; ok {
		t.Errorf("legacy token expires: %v", claims)
	}

	kc := c.TokenKubeconfig(t, token)
	if r := c.KubectlWith(t, kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); r.Err != nil || r.Stdout != "system:serviceaccount:default:build-robot" {
		t.Fatalf("whoami: %q %q %v", r.Stdout, r.Stderr, r.Err)
	}

	// Deleting the Secret ends the token (within the token cache's 10 s).
	c.MustKubectl(t, "delete", "secret", "build-robot-secret")
	framework.Eventually(t, 30*time.Second, "token refused after its secret is deleted", func() bool {
		r := c.KubectlWith(t, kc, "auth", "whoami")
		return r.Err != nil && strings.Contains(r.Stderr, "Unauthorized")
	})

	// Deleting the account deletes its token Secrets.
	if r := c.KubectlStdin(t, tokenSecretYAML("build-robot-secret2", "build-robot"), "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}
	token2 := waitForToken(t, c, "build-robot-secret2")
	if r := c.KubectlWith(t, c.TokenKubeconfig(t, token2), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); r.Err != nil || r.Stdout != "system:serviceaccount:default:build-robot" {
		t.Fatalf("whoami with the second token: %q %q %v", r.Stdout, r.Stderr, r.Err)
	}
	c.MustKubectl(t, "delete", "serviceaccount", "build-robot")
	framework.Eventually(t, 30*time.Second, "token secret deleted with its account", func() bool {
		_, err := c.Client.CoreV1().Secrets("default").Get(ctx, "build-robot-secret2", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// A Secret naming an account that does not exist is deleted.
	if r := c.KubectlStdin(t, tokenSecretYAML("nobody-secret", "nobody"), "apply", "-f", "-"); r.Err != nil {
		t.Fatalf("apply: %v\n%s", r.Err, r.Stderr)
	}
	framework.Eventually(t, 30*time.Second, "token secret of a missing account deleted", func() bool {
		_, err := c.Client.CoreV1().Secrets("default").Get(ctx, "nobody-secret", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
