package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ExternalConfig says how to reach an etcd cluster the process does not own.
type ExternalConfig struct {
	Endpoints                 []string
	CAFile, CertFile, KeyFile string
	// Timeout bounds the wait for the cluster to answer a first read; 0 does not wait.
	Timeout time.Duration
	// RetryInterval is the pause between two attempts (0: one second).
	RetryInterval time.Duration
	Logger        *slog.Logger
}

// readAttemptTimeout bounds one read of a readiness attempt, as kube-apiserver's
// --etcd-readycheck-timeout default.
const readAttemptTimeout = 2 * time.Second

// Connect makes a client for an external etcd cluster and waits until the cluster
// answers a linearizable read. The etcd client dials in the background and retries
// quietly, so a wrong endpoint or certificate would otherwise show only as requests
// that never end: each failed attempt is logged with its reason — the endpoints'
// connection errors (TCP connect, TLS handshake, a client certificate the server
// refuses) when none can be reached, else the read's error — and after cfg.Timeout
// Connect gives up with an error naming the endpoints and the last reason.
func Connect(ctx context.Context, cfg ExternalConfig) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd client: no endpoints")
	}
	tlsConfig, err := clientTLS(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	client, err := newClient(cfg.Endpoints, tlsConfig)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		return client, nil
	}
	if err := waitReady(ctx, client, cfg, tlsConfig); err != nil {
		_ = client.Close()
		return nil, err
	}
	return client, nil
}

func waitReady(ctx context.Context, client *clientv3.Client, cfg ExternalConfig, tlsConfig *tls.Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval := cfg.RetryInterval
	if interval <= 0 {
		interval = time.Second
	}
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	deadline, _ := waitCtx.Deadline()
	// pastDeadline says by the clock whether the wait is over: waitCtx.Err() is set by a
	// timer of its own, which may not have run yet when a dial already failed with "i/o
	// timeout" for the same deadline, and the retry timer may fire with waitCtx.Done.
	pastDeadline := func() bool { return !time.Now().Before(deadline) }
	timer := time.NewTimer(0)
	defer timer.Stop()
	var reason error
	for attempt := 1; ; attempt++ {
		select {
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", strings.Join(cfg.Endpoints, ","), ctx.Err())
			}
			if reason == nil {
				reason = waitCtx.Err()
			}
			return fmt.Errorf("%s did not answer within %s: %w", strings.Join(cfg.Endpoints, ","), cfg.Timeout, reason)
		case <-timer.C:
		}
		if reason != nil && pastDeadline() {
			continue // no attempt that the deadline would cut short; waitCtx.Done is due
		}
		err := readiness(waitCtx, client, cfg.Endpoints, tlsConfig)
		if err == nil {
			if attempt > 1 {
				log.Info("etcd answers", "endpoints", cfg.Endpoints, "waited", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		if reason != nil && (waitCtx.Err() != nil || pastDeadline()) {
			// Cut short by the deadline: the attempt before knew better why.
			continue
		}
		reason = err
		log.Warn("waiting for etcd", "endpoints", cfg.Endpoints, "attempt", attempt,
			"waited", time.Since(start).Round(time.Millisecond), "giveUpAfter", cfg.Timeout, "err", reason)
		timer.Reset(interval)
	}
}

// readiness is nil when the cluster answers a linearizable read, else why not.
func readiness(ctx context.Context, client *clientv3.Client, endpoints []string, tlsConfig *tls.Config) error {
	// The etcd client waits for a connection without saying why it has none: ask the
	// endpoints directly first.
	if err := reachable(ctx, endpoints, tlsConfig); err != nil {
		return err
	}
	readCtx, cancel := context.WithTimeout(ctx, readAttemptTimeout)
	defer cancel()
	if _, err := client.Get(readCtx, "health", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// reachable is nil when one endpoint accepts a connection (and, with TLS, the
// handshake and client certificate), else every endpoint's error.
func reachable(ctx context.Context, endpoints []string, tlsConfig *tls.Config) error {
	var errs []error
	for _, ep := range endpoints {
		err := probe(ctx, ep, tlsConfig)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// probe connects to one endpoint as the etcd client would: TCP, then TLS when the
// client has a TLS configuration or the endpoint says https.
func probe(ctx context.Context, endpoint string, tlsConfig *tls.Config) error {
	if strings.HasPrefix(endpoint, "unix://") || strings.HasPrefix(endpoint, "unixs://") {
		return nil // the read tells
	}
	hostPort, useTLS := endpointAddress(endpoint)
	useTLS = useTLS || tlsConfig != nil
	ctx, cancel := context.WithTimeout(ctx, readAttemptTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return err // "dial tcp 127.0.0.1:2379: connect: connection refused" names the address
	}
	defer conn.Close()
	if !useTLS {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tlsConfig != nil {
		cfg = tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(hostPort)
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%s: TLS handshake: %w", endpoint, err)
	}
	// A TLS 1.3 server judges the client certificate after the client has finished its
	// handshake: a refusal arrives as an alert on the first read. A server that accepted
	// sends its HTTP/2 settings, or nothing before the short deadline.
	deadline := time.Now().Add(500 * time.Millisecond)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = tc.SetReadDeadline(deadline)
	if _, err := tc.Read(make([]byte, 1)); err != nil {
		var netErr net.Error
		if !(errors.As(err, &netErr) && netErr.Timeout()) {
			return fmt.Errorf("%s: TLS: %w", endpoint, err)
		}
	}
	return nil
}

// endpointAddress is the host:port of an etcd endpoint ("https://h:p", "http://h:p" or
// "h:p") and whether its scheme asks for TLS.
func endpointAddress(endpoint string) (string, bool) {
	if !strings.Contains(endpoint, "://") {
		return endpoint, false
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint, false
	}
	return u.Host, u.Scheme == "https"
}
