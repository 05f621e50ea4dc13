package auth_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"testing"

	"github.com/berth/berth/test/integration/framework"
)

// TestServingCertNamesTheKubernetesService: pods reach the API server through the
// kubernetes Service — by its cluster IP (KUBERNETES_SERVICE_HOST, what in-cluster
// client-go dials) or by name — and must be able to verify it under each.
func TestServingCertNamesTheKubernetesService(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.Config.CAData) {
		t.Fatal("no CA in the admin config")
	}
	for _, name := range []string{"10.43.0.1", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "kubernetes"} {
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Errorf("TLS as %s: %v", name, err)
			continue
		}
		conn.Close()
	}
	// A name the certificate does not carry is refused: the check above can fail.
	if conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots, ServerName: "10.43.0.2"}); err == nil {
		conn.Close()
		t.Error("TLS as 10.43.0.2 verified")
	}
}
