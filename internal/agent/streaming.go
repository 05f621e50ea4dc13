package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"time"

	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/streaming"
)

// serveStreaming serves the node's streaming endpoint (logs, exec, attach,
// port-forward for the API server) on ln until ctx ends. Callers must be signed by the
// cluster CA the node's credential trusts; sessions reach containerd's streaming server
// inside the node's network namespace.
func (a *Agent) serveStreaming(ctx context.Context, ln net.Listener, runtime *cri.Client, restConfig *rest.Config) error {
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(restConfig.TLSClientConfig.CAData) {
		return errors.New("streaming: the node credential has no cluster CA")
	}
	cert, err := streaming.SelfSignedCertificate(a.cfg.NodeName, []string{a.nodeIP}, time.Now())
	if err != nil {
		return err
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
