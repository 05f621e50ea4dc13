package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func TestEnsureCreatesThenReuses(t *testing.T) {
	files := Files{Dir: t.TempDir()}
	first, err := Ensure(files, Options{Hosts: []string{"10.0.0.5"}, Server: "https://127.0.0.1:6443"})
	if err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{
		files.CAKey(): 0o600, files.ServingKey(): 0o600, files.AdminKubeconfig(): 0o600, files.NodeToken(): 0o600,
		files.CACert(): 0o644, files.ServingCert(): 0o644,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}
	leaf, err := x509.ParseCertificate(first.Serving.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("10.0.0.5"); err != nil {
		t.Errorf("serving cert lacks the listen address: %v", err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Errorf("serving cert lacks localhost: %v", err)
	}
	kc, err := clientcmd.LoadFromFile(files.AdminKubeconfig())
	if err != nil {
		t.Fatalf("admin kubeconfig does not load: %v", err)
	}
	if got := kc.Clusters["berth"].Server; got != "https://127.0.0.1:6443" {
		t.Errorf("kubeconfig server %q", got)
	}

	// A restart keeps the CA and token; a new address re-issues only the serving cert,
	// and the kubeconfig follows a new server URL.
	second, err := Ensure(files, Options{Hosts: []string{"10.0.0.5", "192.0.2.7"}, Server: "https://192.0.2.7:6443"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CAPEM, second.CAPEM) || first.NodeToken != second.NodeToken {
		t.Fatal("a restart replaced the CA or the node token")
	}
	leaf2, _ := x509.ParseCertificate(second.Serving.Certificate[0])
	if !leaf2.IPAddresses[len(leaf2.IPAddresses)-1].Equal(net.ParseIP("192.0.2.7")) {
		t.Errorf("serving cert not re-issued for the new address: %v", leaf2.IPAddresses)
	}
	kc, _ = clientcmd.LoadFromFile(files.AdminKubeconfig())
	if got := kc.Clusters["berth"].Server; got != "https://192.0.2.7:6443" {
		t.Errorf("kubeconfig server after restart %q", got)
	}
}

func TestSignCSR(t *testing.T) {
	b, err := Ensure(Files{Dir: t.TempDir()}, Options{Server: "https://127.0.0.1:6443"})
	if err != nil {
		t.Fatal(err)
	}
	csr, _, err := NewCSR("ignored")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := SignCSR(b.CA, b.CAKey, csr, "system:node:n1", []string{"system:nodes"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "system:node:n1" || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject %v: the signer, not the request, decides it", cert.Subject)
	}
	if _, err := SignCSR(b.CA, b.CAKey, []byte("not a csr"), "x", nil, time.Now()); err == nil {
		t.Error("garbage accepted as a certificate request")
	}
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("expected a PEM CERTIFICATE")
	}
	return x509.ParseCertificate(block.Bytes)
}
