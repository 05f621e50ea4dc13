package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/pki"
)

// Credential is the node's own client certificate (system:node:<name>) and the cluster
// CA, stored under <data-dir>/agent so restarts need no token round trip.
type Credential struct {
	CertPEM, KeyPEM, CAPEM []byte
}

// Files of the node credential.
func credentialFiles(dir string) (cert, key, ca string) {
	return filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"), filepath.Join(dir, "ca.crt")
}

// renewBefore is how long before expiry a stored certificate is replaced at start.
const renewBefore = 24 * time.Hour

// loadCredential returns the stored credential when it is for node, signed by ca (when
// ca is known) and not about to expire.
func loadCredential(dir, node string, ca []byte, now time.Time) (*Credential, error) {
	certFile, keyFile, caFile := credentialFiles(dir)
	var c Credential
	var err error
	if c.CertPEM, err = os.ReadFile(certFile); err != nil {
		return nil, err
	}
	if c.KeyPEM, err = os.ReadFile(keyFile); err != nil {
		return nil, err
	}
	if c.CAPEM, err = os.ReadFile(caFile); err != nil {
		return nil, err
	}
	if len(ca) > 0 && !bytes.Equal(bytes.TrimSpace(ca), bytes.TrimSpace(c.CAPEM)) {
		return nil, errors.New("stored credential is for another cluster CA")
	}
	if _, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM); err != nil {
		return nil, err
	}
	block, _ := pem.Decode(c.CertPEM)
	if block == nil {
		return nil, errors.New("stored certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if cert.Subject.CommonName != apiserver.NodeUserPrefix+node {
		return nil, fmt.Errorf("stored certificate is for %q", cert.Subject.CommonName)
	}
	if now.Add(renewBefore).After(cert.NotAfter) {
		return nil, errors.New("stored certificate expires soon")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAPEM) {
		return nil, errors.New("stored CA is not PEM")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now}); err != nil {
		return nil, err
	}
	return &c, nil
}

// join trades the node token for the node's own certificate: a fresh key and CSR are
// POSTed to the API server's node-credential endpoint; the answer is stored in dir.
func join(ctx context.Context, server, token, node string, ca []byte, insecure bool, dir string) (*Credential, error) {
	csrPEM, keyPEM, err := pki.NewCSR(apiserver.NodeUserPrefix + node)
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case len(ca) > 0:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("join: CA is not PEM")
		}
		tlsConfig.RootCAs = pool
	case insecure:
		tlsConfig.InsecureSkipVerify = true
	default:
		return nil, errors.New("join: no CA to verify the server (give the CA or allow insecure)")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	endpoint := server + apiserver.NodeCredentialPath + "?node=" + url.QueryEscape(node)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(csrPEM))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		var status struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&status)
		return nil, fmt.Errorf("join %s: %s: %s", server, resp.Status, status.Message)
	}
	var answer apiserver.NodeCredentialResponse
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	c := &Credential{CertPEM: answer.Certificate, KeyPEM: keyPEM, CAPEM: answer.CA}
	if len(c.CAPEM) == 0 {
		c.CAPEM = ca
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certFile, keyFile, caFile := credentialFiles(dir)
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{keyFile, c.KeyPEM, 0o600}, {certFile, c.CertPEM, 0o644}, {caFile, c.CAPEM, 0o644}} {
		if err := writeAtomic(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
