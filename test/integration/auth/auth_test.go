package auth_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/pki"
	"github.com/berth/berth/test/integration/framework"
)

// clientWith returns a client that authenticates with a bearer token or a client cert.
func clientWith(t *testing.T, c *framework.Cluster, token string, certPEM, keyPEM []byte) *kubernetes.Clientset {
	t.Helper()
	cfg := &rest.Config{Host: c.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData}, BearerToken: token}
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return kubernetes.NewForConfigOrDie(cfg)
}

func node(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func TestNodeCredentials(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{})
	ctx := context.Background()
	tokenBytes, err := os.ReadFile(filepath.Join(c.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))

	t.Run("a wrong token is unauthorized", func(t *testing.T) {
		_, err := clientWith(t, c, "nope", nil, nil).CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Fatalf("want 401, got %v", err)
		}
	})

	bootstrap := clientWith(t, c, token, nil, nil)
	t.Run("the node token acts for nodes only", func(t *testing.T) {
		if _, err := bootstrap.CoreV1().Nodes().Create(ctx, node("n1"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("register a node: %v", err)
		}
		if _, err := bootstrap.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatalf("list pods: %v", err)
		}
		_, err := bootstrap.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("create a deployment with the node token: want 403, got %v", err)
		}
		want := `deployments.apps is forbidden: User "system:node-bootstrap" cannot create resource "deployments" in API group "apps" in the namespace "default"`
		if err.Error() != want {
			t.Fatalf("message:\n got %s\nwant %s", err, want)
		}
	})

	// Join: trade the token for a credential of node n2.
	csrPEM, keyPEM, err := pki.NewCSR("n2")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, c.Config.Host+apiserver.NodeCredentialPath+"?node=n2", bytes.NewReader(csrPEM))
	req.Header.Set("Authorization", "Bearer "+token)
	httpClient, err := rest.HTTPClientFor(&rest.Config{Host: c.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("join: status %d", resp.StatusCode)
	}
	var cred apiserver.NodeCredentialResponse
	if err := json.NewDecoder(resp.Body).Decode(&cred); err != nil {
		t.Fatal(err)
	}
	n2 := clientWith(t, c, "", cred.Certificate, keyPEM)

	t.Run("a node credential writes its own node and lease", func(t *testing.T) {
		if _, err := n2.CoreV1().Nodes().Create(ctx, node("n2"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("register own node: %v", err)
		}
		_, err := n2.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("own lease: %v", err)
		}
	})
	t.Run("nor create another node", func(t *testing.T) {
		_, err := n2.CoreV1().Nodes().Create(ctx, node("n9"), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("create node n9 with n2's credential: want 403, got %v", err)
		}
	})
	t.Run("but not another node's", func(t *testing.T) {
		n1, err := c.Client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n1.Labels = map[string]string{"x": "y"}
		if _, err := n2.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("update another node: want 403, got %v", err)
		}
		err = n2.CoreV1().Pods("default").Delete(ctx, "someone-elses", metav1.DeleteOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("delete a pod not on the node: want 403, got %v", err)
		}
	})
	t.Run("a node gets a serving certificate for its own addresses only", func(t *testing.T) {
		// The node controllers (pod CIDR, taints) may write the new node meanwhile.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
			if err != nil {
				return err
			}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.12"}, {Type: corev1.NodeHostName, Address: "n2"}}
			_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		servingCSR, _, err := pki.NewCSR("anything")
		if err != nil {
			t.Fatal(err)
		}
		post := func(hc *http.Client, body []byte) (int, []byte) {
			req, _ := http.NewRequest(http.MethodPost, c.Config.Host+apiserver.NodeServingCertPath, bytes.NewReader(body))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, out
		}
		n2HTTP, err := rest.HTTPClientFor(&rest.Config{Host: c.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData, CertData: cred.Certificate, KeyData: keyPEM}})
		if err != nil {
			t.Fatal(err)
		}
		code, body := post(n2HTTP, servingCSR)
		if code != http.StatusCreated {
			t.Fatalf("serving cert: %d %s", code, body)
		}
		var got apiserver.NodeCredentialResponse
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(got.Certificate)
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if leaf.Subject.CommonName != "system:node:n2" || len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "192.0.2.12" ||
			len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "n2" || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
			t.Errorf("serving cert %s for %v %v (%v); want system:node:n2 for 192.0.2.12 and n2, server auth", leaf.Subject.CommonName, leaf.IPAddresses, leaf.DNSNames, leaf.ExtKeyUsage)
		}
		if code, body := post(n2HTTP, []byte("not a csr")); code != http.StatusBadRequest {
			t.Errorf("garbage request: %d %s; want 400", code, body)
		}
		// The bootstrap token is no node's identity.
		req, _ := http.NewRequest(http.MethodPost, c.Config.Host+apiserver.NodeServingCertPath, bytes.NewReader(servingCSR))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("serving cert with the bootstrap token: %d; want 403", resp.StatusCode)
		}
	})
	t.Run("joining needs the token", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, c.Config.Host+apiserver.NodeCredentialPath+"?node=n3", bytes.NewReader(csrPEM))
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("join without token: status %d, want 401", resp.StatusCode)
		}
	})
}
