package streaming

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels the pod sync loop puts on sandboxes and containers (the kubelet's names).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// APIServerUser is the user name (certificate CN) the API server calls nodes as.
const APIServerUser = "system:apiserver-kubelet-client"

// DefaultPort is the kubelet's port, where nodes serve by default.
const DefaultPort = 10250

// Runtime is what the server asks of the container runtime (a CRI client).
type Runtime interface {
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(ctx context.Context, containerID string, verbose bool) (*runtimeapi.ContainerStatusResponse, error)
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)
	Exec(ctx context.Context, req *runtimeapi.ExecRequest) (string, error)
	Attach(ctx context.Context, req *runtimeapi.AttachRequest) (string, error)
	PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (string, error)
}

// DialFunc opens a connection (to the runtime's streaming server).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Config wires a Server.
type Config struct {
	Runtime Runtime
	// Dial reaches the runtime's streaming server, which listens on loopback in the
	// node's network namespace (nil: a plain dialer in the agent's own namespace).
	Dial DialFunc
	// Certificate is served to callers; ClientCAs verify their certificates, and only
	// the users in AllowedUsers (certificate CNs; default APIServerUser) are served.
	Certificate  tls.Certificate
	ClientCAs    *x509.CertPool
	AllowedUsers []string
	// StreamIdleTimeout ends exec/attach/port-forward sessions idle that long (default 4 h,
	// as the kubelet's).
	StreamIdleTimeout time.Duration
	// LogPollInterval is how often a followed log is checked for new lines (default 250 ms).
	LogPollInterval time.Duration
	Log             *slog.Logger
}

// Server is the node's streaming endpoint.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg; Serve does the work.
func New(cfg Config) (*Server, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("streaming: no runtime")
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	if len(cfg.AllowedUsers) == 0 {
		cfg.AllowedUsers = []string{APIServerUser}
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = 4 * time.Hour
	}
	if cfg.LogPollInterval <= 0 {
		cfg.LogPollInterval = 250 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: cfg.Log.With("component", "streaming")}, nil
}

// Serve serves HTTPS on ln until ctx ends, then stops accepting and waits (up to 5 s)
// for plain requests to finish; upgraded sessions end with their streams.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.ClientCAs == nil {
		return errors.New("streaming: no client CA: refusing to serve unauthenticated")
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.cfg.Certificate},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    s.cfg.ClientCAs,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"}, // upgrades need HTTP/1.1
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	<-errc
	return nil
}

// Handler routes the kubelet's streaming paths; callers must present a certificate of
// an allowed user (Serve verifies it against ClientCAs).
//
//	GET  /containerLogs/{namespace}/{pod}/{container}?follow&previous&tailLines&...
//	GET|POST /exec/{namespace}/{pod}/{container}?command=...&input=1&output=1&error=1&tty=1
//	GET|POST /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1&tty=1
//	GET|POST /portForward/{namespace}/{pod}[?port=...]
//
// podUID in the query selects one instance of the pod when names were reused.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveLogs)
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", s.serveExec)
	mux.HandleFunc("/attach/{namespace}/{pod}/{container}", s.serveAttach)
	mux.HandleFunc("/portForward/{namespace}/{pod}", s.servePortForward)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, ok := s.authenticate(r); !ok {
			verb := "get"
			if r.Method == http.MethodPost {
				verb = "create"
			}
			code := http.StatusForbidden
			if user == "" {
				code = http.StatusUnauthorized
			}
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=proxy)", user, verb), code)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// authenticate returns the caller's user (the CN of its verified certificate) and
// whether it is allowed.
func (s *Server) authenticate(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", false
	}
	user := r.TLS.VerifiedChains[0][0].Subject.CommonName
	return user, slices.Contains(s.cfg.AllowedUsers, user)
}

// httpError is an error with the status the node answers it with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{code: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// writeError answers err as plain text, as the kubelet does; the API server turns the
// text into the Status message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	} else {
		s.log.Warn("streaming request failed", "path", r.URL.Path, "err", err)
	}
	http.Error(w, err.Error(), code)
}

// podRef names a pod, and optionally one instance of it.
type podRef struct{ namespace, name, uid string }

func refFrom(r *http.Request) podRef {
	return podRef{namespace: r.PathValue("namespace"), name: r.PathValue("pod"), uid: r.URL.Query().Get("podUID")}
}

func (p podRef) String() string { return p.namespace + "/" + p.name }

func (p podRef) labels() map[string]string {
	l := map[string]string{labelPodNamespace: p.namespace, labelPodName: p.name}
	if p.uid != "" {
		l[labelPodUID] = p.uid
	}
	return l
}

// containerInstances lists the instances of one container of a pod, newest first.
func (s *Server) containerInstances(ctx context.Context, pod podRef, container string) ([]*runtimeapi.Container, error) {
	sel := pod.labels()
	sel[labelContainerName] = container
	list, err := s.cfg.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(list, func(i, j int) bool {
		if a, b := list[i].GetMetadata().GetAttempt(), list[j].GetMetadata().GetAttempt(); a != b {
			return a > b
		}
		return list[i].CreatedAt > list[j].CreatedAt
	})
	return list, nil
}

// runningContainer is the running instance of a container (exec, attach).
func (s *Server) runningContainer(ctx context.Context, pod podRef, container string) (string, error) {
	list, err := s.containerInstances(ctx, pod, container)
	if err != nil {
		return "", err
	}
	for _, c := range list {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c.Id, nil
		}
	}
	if len(list) == 0 {
		return "", notFound("container not found (%q)", container)
	}
	return "", badRequest("container %q in pod %q is not running", container, pod.name)
}

// podSandbox is the pod's ready sandbox (port-forward).
func (s *Server) podSandbox(ctx context.Context, pod podRef) (string, error) {
	list, err := s.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{
		LabelSelector: pod.labels(),
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	})
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "", notFound("pod not found (%q)", pod.String())
	}
	sort.Slice(list, func(i, j int) bool { return list[i].CreatedAt > list[j].CreatedAt })
	return list[0].Id, nil
}

// boolParam reads the kubelet's stream flags ("1"/"true").
func boolParam(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// Listen opens the node's streaming endpoint on all addresses at port (0: DefaultPort;
// negative: a free port) and returns the port it got, for the Node's daemonEndpoints.
func Listen(port int) (net.Listener, int32, error) {
	switch {
	case port == 0:
		port = DefaultPort
	case port < 0:
		port = 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return nil, 0, fmt.Errorf("streaming: listen: %w", err)
	}
	return ln, int32(ln.Addr().(*net.TCPAddr).Port), nil
}
