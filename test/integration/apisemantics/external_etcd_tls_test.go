package apisemantics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/storage/etcd/etcdtest"
	"github.com/berth/berth/test/integration/framework"
)

// TestSuiteExternalEtcdTLS runs the representative checks against an etcd process that
// serves only TLS and asks for a client certificate, the way
// `berth server --etcd-endpoints https://... --etcd-cafile --etcd-certfile --etcd-keyfile`
// talks to it, and reads an object back from etcd under its Kubernetes key.
func TestSuiteExternalEtcdTLS(t *testing.T) {
	etcdtest.SkipWithoutBinary(t)
	pki := writeEtcdPKI(t)
	endpoint := startTLSEtcd(t, pki)
	opts := framework.Options{
		EtcdEndpoints: []string{endpoint}, APIOnly: true,
		EtcdCAFile: pki.ca, EtcdCertFile: pki.clientCert, EtcdKeyFile: pki.clientKey,
	}

	t.Run("StorageKey", func(t *testing.T) {
		c := framework.StartCluster(t, opts)
		ns := newNamespace(t, c.Client)
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "over-tls"}, Data: map[string]string{"a": "b"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create: %v", err)
		}
		client := pki.client(t, endpoint)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		key := "/registry/configmaps/" + ns + "/over-tls"
		resp, err := client.Get(ctx, key, clientv3.WithCountOnly())
		if err != nil || resp.Count != 1 {
			t.Fatalf("etcd Get %s: count %v, err %v", key, resp, err)
		}
	})
	for _, sc := range suite() {
		if !sc.representative {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			sc.run(t, framework.StartCluster(t, opts))
		})
	}
}

// etcdPKI is a CA, a serving certificate for 127.0.0.1 and a client certificate, as PEM
// files in a temp dir.
type etcdPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func writeEtcdPKI(t *testing.T) etcdPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := etcdPKI{ca: filepath.Join(dir, "ca.crt")}
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (certFile, keyFile string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsConfig trusts the CA and presents the client certificate.
func (p etcdPKI) tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(p.ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// client is an etcd client that trusts the CA and presents the client certificate.
func (p etcdPKI) client(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{
		Endpoints: []string{endpoint}, DialTimeout: time.Second, Logger: zap.NewNop(), TLS: p.tlsConfig(t),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// startTLSEtcd runs etcdtest.Binary serving clients over TLS only, with client
// certificates required, and returns its https URL once it answers; t.Cleanup kills it.
func startTLSEtcd(t *testing.T, p etcdPKI) string {
	t.Helper()
	return etcdtest.Start(t, etcdtest.Options{TLS: &etcdtest.TLS{
		CAFile: p.ca, ServerCertFile: p.serverCert, ServerKeyFile: p.serverKey, ClientConfig: p.tlsConfig(t),
	}})
}
