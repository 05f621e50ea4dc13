package server

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"

	"github.com/berth/berth/internal/agent/streaming"
	"github.com/berth/berth/internal/pki"
)

// nodeTransport is how the API server calls nodes' streaming endpoints (pods/log, exec,
// attach, portforward): as system:apiserver-kubelet-client, with a client certificate
// from the cluster CA that nodes require. It verifies the node's certificate against
// the cluster CA (as kube-apiserver with --kubelet-certificate-authority): nodes get
// theirs, for the addresses of their Node object, at NodeServingCertPath.
func nodeTransport(b *pki.Bundle) (*http.Transport, error) {
	certPEM, keyPEM, err := pki.IssueClientCert(b.CA, b.CAKey, streaming.APIServerUser, nil, time.Now())
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	return &http.Transport{
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			MinVersion:   tls.VersionTLS12,
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}, nil
}
