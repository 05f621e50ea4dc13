package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/streaming"
	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/pki"
)

// serveStreaming serves the node's streaming endpoint (logs, exec, attach,
// port-forward for the API server) on ln until ctx ends. Callers must be signed by the
// cluster CA the node's credential trusts; sessions reach containerd's streaming server
// inside the node's network namespace.
func (a *Agent) serveStreaming(ctx context.Context, ln net.Listener, runtime *cri.Client, restConfig *rest.Config) error {
	ca := restConfig.TLSClientConfig.CAData
	if len(ca) == 0 {
		ca = a.cfg.CAPEM // an in-process API transport carries no TLS settings
	}
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(ca) {
		return errors.New("streaming: the node credential has no cluster CA")
	}
	cert, err := a.servingCertificate(ctx, restConfig)
	if err != nil {
		// An older server signs none: serve a self-signed certificate it does not verify.
		a.log.Warn("no serving certificate from the cluster CA; serving a self-signed one", "err", err)
		if cert, err = streaming.SelfSignedCertificate(a.cfg.NodeName, []string{a.nodeIP}, time.Now()); err != nil {
			return err
		}
	}
	srv, err := streaming.New(streaming.Config{
		Runtime: runtime, Dial: streaming.DialInNetNS(a.cfg.NetNS),
		Certificate: cert, ClientCAs: cas, Log: a.cfg.Log,
	})
	if err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}

// servingCertificate gets the streaming endpoint's certificate from the API server,
// signed by the cluster CA for the addresses of the node's Node object.
func (a *Agent) servingCertificate(ctx context.Context, restConfig *rest.Config) (tls.Certificate, error) {
	csrPEM, keyPEM, err := pki.NewCSR(apiserver.NodeUserPrefix + a.cfg.NodeName)
	if err != nil {
		return tls.Certificate{}, err
	}
	rt, err := rest.TransportFor(restConfig)
	if err != nil {
		return tls.Certificate{}, err
	}
	client := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, restConfig.Host+apiserver.NodeServingCertPath, bytes.NewReader(csrPEM))
	if err != nil {
		return tls.Certificate{}, err
	}
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := client.Do(req)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tls.Certificate{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return tls.Certificate{}, fmt.Errorf("%s: %s: %s", apiserver.NodeServingCertPath, resp.Status, bytes.TrimSpace(body))
	}
	var out apiserver.NodeCredentialResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", apiserver.NodeServingCertPath, err)
	}
	return tls.X509KeyPair(out.Certificate, keyPEM)
}
