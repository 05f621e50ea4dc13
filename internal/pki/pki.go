package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files names the credential files under a data dir.
type Files struct {
	Dir string
}

func (f Files) path(name string) string { return filepath.Join(f.Dir, name) }

// CACert is the cluster CA certificate (public).
func (f Files) CACert() string { return f.path("tls/ca.crt") }

// CAKey is the cluster CA key (secret).
func (f Files) CAKey() string { return f.path("tls/ca.key") }

// ServingCert is the API server certificate.
func (f Files) ServingCert() string { return f.path("tls/serving.crt") }

// ServingKey is the API server key (secret).
func (f Files) ServingKey() string { return f.path("tls/serving.key") }

// AdminKubeconfig is the admin's kubeconfig (secret).
func (f Files) AdminKubeconfig() string { return f.path("admin.kubeconfig") }

// NodeToken is the node join token (secret).
func (f Files) NodeToken() string { return f.path("node-token") }

// Bundle is everything the API server needs to serve and authenticate.
type Bundle struct {
	CA          *x509.Certificate
	CAKey       crypto.Signer
	CAPEM       []byte
	Serving     tls.Certificate
	NodeToken   string
	AdminCert   []byte // PEM
	AdminKeyPEM []byte
}

// Options control what Ensure generates.
type Options struct {
	// Hosts are extra SANs (IPs or DNS names) for the serving certificate.
	Hosts []string
	// Server is the URL written into the admin kubeconfig.
	Server string
	Now    func() time.Time
}

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// AdminUser and AdminGroup identify the admin credential.
	AdminUser  = "berth-admin"
	AdminGroup = "system:masters"
)

// Ensure loads the credentials under files.Dir, creating whatever is missing. A serving
// certificate whose SANs do not cover opts.Hosts is re-issued from the same CA.
func Ensure(files Files, opts Options) (*Bundle, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(files.Dir, "tls"), 0o700); err != nil {
		return nil, fmt.Errorf("create tls dir: %w", err)
	}
	ca, caKey, caPEM, err := ensureCA(files, opts.Now())
	if err != nil {
		return nil, err
	}
	b := &Bundle{CA: ca, CAKey: caKey, CAPEM: caPEM}
	if b.Serving, err = ensureServing(files, ca, caKey, opts); err != nil {
		return nil, err
	}
	if b.NodeToken, err = ensureToken(files.NodeToken()); err != nil {
		return nil, err
	}
	if b.AdminCert, b.AdminKeyPEM, err = ensureAdmin(files, ca, caKey, caPEM, opts); err != nil {
		return nil, err
	}
	return b, nil
}

func ensureCA(files Files, now time.Time) (*x509.Certificate, crypto.Signer, []byte, error) {
	certPEM, errC := os.ReadFile(files.CACert())
	keyPEM, errK := os.ReadFile(files.CAKey())
	if errC == nil && errK == nil {
		cert, key, err := parsePair(certPEM, keyPEM)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("load CA from %s: %w", files.CACert(), err)
		}
		return cert, key, certPEM, nil
	}
	if !errors.Is(errC, os.ErrNotExist) && errC != nil {
		return nil, nil, nil, errC
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("berth-ca@%d", now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create CA: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKey(files.CAKey(), key); err != nil {
		return nil, nil, nil, err
	}
	if err := writeFile(files.CACert(), certPEM, 0o644); err != nil {
		return nil, nil, nil, err
	}
	return cert, key, certPEM, nil
}

func ensureServing(files Files, ca *x509.Certificate, caKey crypto.Signer, opts Options) (tls.Certificate, error) {
	ips, dns := sans(opts.Hosts)
	if pair, err := tls.LoadX509KeyPair(files.ServingCert(), files.ServingKey()); err == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err == nil && covers(leaf, ips, dns) && leaf.CheckSignatureFrom(ca) == nil && opts.Now().Before(leaf.NotAfter.Add(-24*time.Hour)) {
			pair.Leaf = leaf
			return pair, nil
		}
	}
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "berth-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create serving cert: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKey(files.ServingKey(), key); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile(files.ServingCert(), certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(files.ServingCert(), files.ServingKey())
}

// IssueClientCert signs a client certificate for user in groups (used for the admin and,
// later, node credentials).
func IssueClientCert(ca *x509.Certificate, caKey crypto.Signer, user string, groups []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create client cert for %s: %w", user, err)
	}
	der2, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der2}), nil
}

func ensureAdmin(files Files, ca *x509.Certificate, caKey crypto.Signer, caPEM []byte, opts Options) ([]byte, []byte, error) {
	if _, err := os.Stat(files.AdminKubeconfig()); err == nil {
		// Keep the existing credential; refresh the server URL only if it changed.
		if err := UpdateKubeconfigServer(files.AdminKubeconfig(), opts.Server); err != nil {
			return nil, nil, err
		}
		return nil, nil, nil
	}
	certPEM, keyPEM, err := IssueClientCert(ca, caKey, AdminUser, []string{AdminGroup}, opts.Now())
	if err != nil {
		return nil, nil, err
	}
	kc := Kubeconfig(opts.Server, caPEM, "admin", certPEM, keyPEM, "")
	if err := writeFile(files.AdminKubeconfig(), kc, 0o600); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

func ensureToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if tok != "" {
			return tok, nil
		}
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := "B10::" + hex.EncodeToString(buf)
	if err := writeFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

func sans(hosts []string) ([]net.IP, []string) {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
			continue
		}
		dns = append(dns, h)
	}
	return ips, dns
}

func covers(cert *x509.Certificate, ips []net.IP, dns []string) bool {
	for _, ip := range ips {
		found := false
		for _, c := range cert.IPAddresses {
			if c.Equal(ip) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, d := range dns {
		found := false
		for _, c := range cert.DNSNames {
			if c == d {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFile writes atomically (temp file + rename) with the given mode.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("CA key cannot sign")
	}
	return cert, signer, nil
}
