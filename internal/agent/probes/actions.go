package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/berth/berth/internal/agent/cri"
)

// Execer runs a command in a container (*cri.Client has it).
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (cri.ExecResult, error)
}

// DialFunc opens a connection from where the pod IPs are reachable.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Actions runs probe and hook actions against one pod's container.
type Actions struct {
	Exec Execer
	// Dial defaults to a plain net.Dialer.
	Dial DialFunc
}

// Target is the container an action runs against.
type Target struct {
	Pod         *corev1.Pod
	Container   *corev1.Container
	ContainerID string
}

func (a Actions) dial(ctx context.Context, network, address string) (net.Conn, error) {
	if a.Dial != nil {
		return a.Dial(ctx, network, address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// ErrFailed wraps what a probe found wrong (as opposed to being unable to run it).
var ErrFailed = errors.New("probe failed")

// RunExec runs cmd in the container; a non-zero exit fails with its output.
func (a Actions) RunExec(ctx context.Context, t Target, cmd []string, timeout time.Duration) error {
	if a.Exec == nil {
		return errors.New("exec is not available")
	}
	res, err := a.Exec.ExecSync(ctx, t.ContainerID, cmd, timeout)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		out := strings.TrimSpace(string(res.Stdout) + string(res.Stderr))
		if out == "" {
			out = fmt.Sprintf("command %q exited with %d", strings.Join(cmd, " "), res.ExitCode)
		}
		return fmt.Errorf("%w: %s", ErrFailed, out)
	}
	return nil
}

// port resolves a numeric or named container port.
func port(t Target, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	if t.Container != nil {
		for _, cp := range t.Container.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("couldn't find port %q in container %s", p.StrVal, t.Container.Name)
}

func host(t Target, h string) string {
	if h != "" {
		return h
	}
	if t.Pod != nil {
		return t.Pod.Status.PodIP
	}
	return ""
}

// RunHTTPGet does the GET; a status from 200 to 399 succeeds (redirects are followed).
func (a Actions) RunHTTPGet(ctx context.Context, t Target, g *corev1.HTTPGetAction, timeout time.Duration) error {
	p, err := port(t, g.Port)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host(t, g.Host), strconv.Itoa(p))}
	target := u.String() + path
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       a.dial,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet: probes do not verify
			DisableKeepAlives: true,
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: Get %q: %v", ErrFailed, target, unwrapURLError(err))
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%w: HTTP probe failed with statuscode: %d", ErrFailed, resp.StatusCode)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// RunTCP opens and closes a connection.
func (a Actions) RunTCP(ctx context.Context, t Target, s *corev1.TCPSocketAction, timeout time.Duration) error {
	p, err := port(t, s.Port)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := a.dial(ctx, "tcp", net.JoinHostPort(host(t, s.Host), strconv.Itoa(p)))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFailed, err)
	}
	return conn.Close()
}

// RunGRPC asks grpc.health.v1 for the service's status; SERVING succeeds.
func (a Actions) RunGRPC(ctx context.Context, t Target, g *corev1.GRPCAction, timeout time.Duration) error {
	addr := net.JoinHostPort(host(t, ""), strconv.Itoa(int(g.Port)))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, address string) (net.Conn, error) {
			return a.dial(ctx, "tcp", address)
		}),
		grpc.WithUserAgent("kube-probe/1.37"))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("%w: failed to connect service %q within %v: %v", ErrFailed, addr, timeout, err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%w: service unhealthy (responded with %q)", ErrFailed, resp.Status)
	}
	return nil
}

// RunProbe runs a probe's handler once.
func (a Actions) RunProbe(ctx context.Context, t Target, h corev1.ProbeHandler, timeout time.Duration) error {
	switch {
	case h.Exec != nil:
		return a.RunExec(ctx, t, h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		return a.RunHTTPGet(ctx, t, h.HTTPGet, timeout)
	case h.TCPSocket != nil:
		return a.RunTCP(ctx, t, h.TCPSocket, timeout)
	case h.GRPC != nil:
		return a.RunGRPC(ctx, t, h.GRPC, timeout)
	}
	return errors.New("probe has no handler")
}
