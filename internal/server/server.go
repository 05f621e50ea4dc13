package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/apiserver"
	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/pki"
	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/serviceaccount"
	"github.com/berth/berth/internal/storage"
	etcdstore "github.com/berth/berth/internal/storage/etcd"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config is everything `berth server` takes from its flags.
type Config struct {
	DataDir string
	Listen  string
	// AdvertiseAddress is the IP pods reach the API server at, published as the endpoint
	// of the kubernetes Service (kube-apiserver's --advertise-address), with the listen
	// port. Empty: the listen address when it is a specific non-loopback one; with an
	// unspecified one (0.0.0.0), the address of the interface of the default route; with a
	// loopback one, none (pods cannot reach the API).
	AdvertiseAddress string
	// DisableAgent skips the node agent built into the server process.
	DisableAgent bool
	// Agent tunes the built-in node agent (node name, cgroup root, network namespace...).
	Agent agent.Options
	// EtcdEndpoints selects an external etcd cluster; empty runs etcd embedded.
	EtcdEndpoints                         []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// StorageInitializationTimeout bounds the wait for an external etcd to answer at
	// start (0: DefaultStorageInitializationTimeout); past it Start fails.
	StorageInitializationTimeout time.Duration
	// Version is the API version info served at /version.
	Version version.Info
	Log     *slog.Logger
	// Ready, when set, is closed once the server serves.
	Ready chan<- struct{}
	// ServiceCIDR is the range of service cluster IPs (default 10.43.0.0/16).
	ServiceCIDR string
	// NodePortBase and NodePortCount give the node port range (default 30000, 2768).
	NodePortBase, NodePortCount int
	// Controllers tunes the control loops.
	Controllers controller.Options
	// DisableControllers runs the API alone (no controllers, no scheduler).
	DisableControllers bool
	// DisableServiceAccountAdmission skips the ServiceAccount admission of pods (no
	// default account, no kube-api-access volume): without controllers nothing creates a
	// namespace's "default" account, and every pod create would wait for it and fail, so
	// API-only servers turn it off, as kube-apiserver's integration tests do.
	DisableServiceAccountAdmission bool
	// MaxInFlight caps concurrent non-watch requests; more get 429 (0: the API server's default).
	MaxInFlight int
	// WatchProgressInterval is how often watches with bookmarks get a progress
	// notification from storage (0: the storage default, 5 s).
	WatchProgressInterval time.Duration
	// WatchBookmarkInterval is the least time between two bookmarks on a watch that
	// allows them (0: DefaultWatchBookmarkInterval; negative: one per progress interval).
	WatchBookmarkInterval time.Duration
	// CompactInterval is how often storage history older than one interval is
	// compacted (0: DefaultCompactInterval; negative: never).
	CompactInterval time.Duration
	// EventTTL is how long events are kept after their last write (0: DefaultEventTTL).
	EventTTL time.Duration
}

// DefaultEventTTL is how long events live, as kube-apiserver's --event-ttl default.
const DefaultEventTTL = time.Hour

// DefaultStorageInitializationTimeout is how long start-up waits for an external etcd,
// as kube-apiserver's --storage-initialization-timeout default.
const DefaultStorageInitializationTimeout = time.Minute

// DefaultWatchBookmarkInterval is how often a watch gets a bookmark, as with Kubernetes.
const DefaultWatchBookmarkInterval = time.Minute

// watchCacheCapacity is how many recent changes per resource the watch caches keep for
// watches that resume from a recent resourceVersion.
const watchCacheCapacity = 1024

// Server is a running control plane.
type Server struct {
	cfg      Config
	log      *slog.Logger
	embedded *etcdstore.Embedded
	client   *clientv3.Client
	store    *etcdstore.Store
	httpSrv  *http.Server
	listener net.Listener
	// advertise is where pods reach the API (the kubernetes Service's endpoint), if anywhere.
	advertise netip.AddrPort
	// stopLoops ends the controllers; loopsDone is closed when they have stopped.
	stopLoops context.CancelFunc
	loopsDone chan struct{}
	// stopCaches ends the watch caches.
	stopCaches context.CancelFunc
	// stopCompactor ends the compactor; compactorDone is closed when it has stopped.
	stopCompactor context.CancelFunc
	compactorDone chan struct{}
	// agent is the built-in node agent (nil with DisableAgent); stopAgent ends it and
	// agentDone is closed when it has stopped.
	agent     *agent.Agent
	stopAgent context.CancelFunc
	agentDone chan struct{}
	// dnsIP is the cluster DNS service's address (the tenth of the service range).
	dnsIP string
	// saSigner signs service account tokens (the tokens controller's legacy tokens).
	saSigner *serviceaccount.Signer
	// Loopback is an admin client config that reaches the server over its socket (TLS).
	Loopback *rest.Config
	// InProcess is an admin client config whose requests the server's handler serves in
	// this process, without TLS or sockets; the controllers use it.
	InProcess *rest.Config
	// handler serves the API (over the listener and in process).
	handler http.Handler
	// URL is the HTTPS address clients use.
	URL string
}

// Run starts the server and blocks until ctx is cancelled, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Stop()
}

// Start brings the server up and returns once it serves.
func Start(ctx context.Context, cfg Config) (_ *Server, retErr error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:6443"
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "10.43.0.0/16"
	}
	s := &Server{cfg: cfg, log: cfg.Log}
	defer func() {
		if retErr != nil {
			_ = s.Stop()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.listener = ln
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	urlHost := host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		urlHost = "127.0.0.1"
	}
	s.URL = "https://" + net.JoinHostPort(urlHost, port)

	files := pki.Files{Dir: cfg.DataDir}
	// Pods reach the API server as https://kubernetes.default.svc, the kubernetes
	// Service's cluster IP (the first of the range): the certificate names both, as
	// kube-apiserver's does.
	serviceIP, err := registry.KubernetesServiceIP(cfg.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	hosts := []string{host, serviceIP.String()}
	advertise, err := advertiseAddress(cfg.AdvertiseAddress, host)
	if err != nil {
		return nil, err
	}
	if advertise.IsValid() {
		hosts = append(hosts, advertise.String())
		p, _ := strconv.ParseUint(port, 10, 16)
		s.advertise = netip.AddrPortFrom(advertise, uint16(p))
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	bundle, err := pki.Ensure(files, pki.Options{Hosts: hosts, Server: s.URL})
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}

	if len(cfg.EtcdEndpoints) > 0 {
		s.client, err = etcdstore.Connect(ctx, etcdstore.ExternalConfig{
			Endpoints: cfg.EtcdEndpoints,
			CAFile:    cfg.EtcdCAFile, CertFile: cfg.EtcdCertFile, KeyFile: cfg.EtcdKeyFile,
			Timeout: cmp.Or(cfg.StorageInitializationTimeout, DefaultStorageInitializationTimeout),
			Logger:  cfg.Log,
		})
		if err != nil {
			return nil, fmt.Errorf("connect to etcd: %w", err)
		}
	} else {
		s.embedded, err = etcdstore.StartEmbedded(ctx, etcdstore.Config{DataDir: filepath.Join(cfg.DataDir, "etcd"), Logger: cfg.Log})
		if err != nil {
			return nil, fmt.Errorf("start embedded etcd: %w", err)
		}
		s.client = s.embedded.Client()
	}
	s.store = etcdstore.New(s.client, etcdstore.Options{ProgressInterval: cfg.WatchProgressInterval})
	s.startCompactor()

	scheme := registry.NewScheme()
	codecs := registry.NewCodecs(scheme)
	resources := registry.Builtin()
	stores := make([]*registry.Store, 0, len(resources))
	var namespaces *registry.Store
	if cfg.NodePortBase == 0 {
		cfg.NodePortBase, cfg.NodePortCount = 30000, 2768
	}
	alloc, err := registry.NewServiceAllocator(s.store, cfg.ServiceCIDR, cfg.NodePortBase, cfg.NodePortCount)
	if err != nil {
		return nil, err
	}
	var services, pods, priorityClasses, serviceAccounts *registry.Store
	for _, res := range resources {
		st := registry.NewStore(res, s.store, scheme, cfg.Log)
		st.BookmarkInterval = cfg.WatchBookmarkInterval
		if st.BookmarkInterval == 0 {
			st.BookmarkInterval = DefaultWatchBookmarkInterval
		}
		if res.Name == "events" {
			st.TTL = cmp.Or(cfg.EventTTL, DefaultEventTTL)
		}
		if res.GroupVersion.Group == "" {
			switch res.Name {
			case "namespaces":
				namespaces = st
			case "services":
				res.Allocator = alloc
				services = st
			case "pods":
				pods = st
			case "serviceaccounts":
				serviceAccounts = st
			}
		}
		if res.GroupVersion.Group == "scheduling.k8s.io" && res.Name == "priorityclasses" {
			priorityClasses = st
		}
		stores = append(stores, st)
	}
	cacheCtx, stopCaches := context.WithCancel(context.Background())
	s.stopCaches = stopCaches
	for _, st := range stores {
		st.StartWatchCache(cacheCtx, watchCacheCapacity)
	}
	// After the watch caches: the namespace follower watches the namespaces store, which
	// reads the store's cache field that StartWatchCache sets (a data race when it ran first).
	nsCheck := registry.CachedNamespaceLifecycle(cacheCtx, namespaces)
	for _, st := range stores {
		st.NamespaceCheck = nsCheck
	}
	if err := registry.EnsureSystemNamespaces(ctx, namespaces); err != nil {
		return nil, fmt.Errorf("create system namespaces: %w", err)
	}
	// Also after the watch caches, for the same reason as the namespace follower.
	priority := registry.NewPriorityAdmission(cacheCtx, priorityClasses)
	var serviceAccountAdmit registry.AdmitFunc
	if !cfg.DisableServiceAccountAdmission {
		serviceAccountAdmit = registry.NewServiceAccountAdmission(cacheCtx, serviceAccounts).AdmitPod
	}
	// In kube-apiserver's plugin order: ServiceAccount, then Priority.
	pods.Admission.Mutate = registry.Mutators(serviceAccountAdmit, priority.AdmitPod)
	priorityClasses.Admission.Validate = priority.ValidateClass
	if err := registry.EnsureSystemPriorityClasses(ctx, priorityClasses); err != nil {
		return nil, fmt.Errorf("create system priority classes: %w", err)
	}
	if err := alloc.Repair(ctx, services); err != nil {
		return nil, fmt.Errorf("repair service allocations: %w", err)
	}
	apiPort, _ := strconv.Atoi(port)
	if err := registry.EnsureKubernetesService(ctx, services, alloc.NthIP(1).String(), int32(apiPort)); err != nil {
		return nil, err
	}
	s.dnsIP = alloc.NthIP(10).String()
	if err := registry.EnsureDNSService(ctx, services, s.dnsIP); err != nil {
		// An older cluster may have given the address to a Service of its own.
		s.log.Error("cluster DNS service not created; pods' DNS address may belong to another Service", "err", err)
	}
	spec, err := newOpenAPI(resources, scheme)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeTransport(bundle)
	if err != nil {
		return nil, err
	}
	tokens, err := serviceAccountTokens(ctx, s.store, stores)
	if err != nil {
		return nil, err
	}
	s.saSigner = tokens.signer
	api, err := apiserver.New(apiserver.Config{
		Codecs:              codecs,
		Stores:              stores,
		Authenticate:        authenticator(bundle, tokens.auth, s.log),
		TokenSigner:         tokens.signer,
		APIAudiences:        apiAudiences,
		OpenIDConfiguration: tokens.openIDConfig,
		JWKS:                tokens.jwks,
		IssueNodeCert: func(csrPEM []byte, node string) ([]byte, []byte, error) {
			cert, err := pki.SignCSR(bundle.CA, bundle.CAKey, csrPEM, apiserver.NodeUserPrefix+node, []string{apiserver.GroupNodes}, time.Now())
			return cert, bundle.CAPEM, err
		},
		IssueNodeServingCert: func(csrPEM []byte, node string, ips []net.IP, dnsNames []string) ([]byte, []byte, error) {
			cert, err := pki.SignServingCSR(bundle.CA, bundle.CAKey, csrPEM, apiserver.NodeUserPrefix+node, ips, dnsNames, time.Now())
			return cert, bundle.CAPEM, err
		},
		OpenAPI:       spec,
		NodeTransport: nodes,
		TypeConverter: spec.TypeConverter,
		Ready:         s.ready,
		MaxInFlight:   cfg.MaxInFlight,
		Version:       cfg.Version,
		Log:           cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(bundle.CA)
	s.handler = api.Handler()
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{bundle.Serving},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
	}
	go func() {
		if err := s.httpSrv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	if s.Loopback, err = loopbackConfig(s.URL, bundle); err != nil {
		return nil, err
	}
	s.InProcess = &rest.Config{
		Host:      s.URL,
		Transport: apiserver.InProcessTransport(s.handler, apiserver.User{Name: loopbackUser, Groups: []string{pki.AdminGroup}}),
		UserAgent: "berth-controller-manager",
		QPS:       2000,
		Burst:     4000,
		// Protobuf, as kube-controller-manager speaks: decoding it costs a fraction of JSON.
		ContentConfig: rest.ContentConfig{
			ContentType:        k8sruntime.ContentTypeProtobuf,
			AcceptContentTypes: k8sruntime.ContentTypeProtobuf + "," + k8sruntime.ContentTypeJSON,
		},
	}
	if !cfg.DisableControllers {
		if err := s.startControllers(bundle); err != nil {
			return nil, err
		}
	}
	if !cfg.DisableAgent {
		if err := s.startAgent(bundle); err != nil {
			return nil, err
		}
	}
	s.log.Info("berth server ready", "url", s.URL, "dataDir", cfg.DataDir, "go", runtime.Version())
	if cfg.Ready != nil {
		close(cfg.Ready)
	}
	return s, nil
}

// startControllers runs the control loops under leader election as API clients.
func (s *Server) startControllers(b *pki.Bundle) error {
	opts := s.cfg.Controllers
	opts.RootCAPEM = b.CAPEM
	opts.LegacyTokenSigner = s.saSigner.SignLegacy
	opts.APIServerAddress = s.advertise
	opts.WrapClients = func(client kubernetes.Interface, md metadata.Interface) (kubernetes.Interface, metadata.Interface, error) {
		return apiserver.ObjectWatches(s.InProcess, client, md)
	}
	cc, err := controller.NewContext(s.InProcess, s.log, opts)
	if err != nil {
		return err
	}
	// The identity names the server (host and API address), so the Lease shows who leads.
	host, _ := os.Hostname()
	identity := host + "_" + s.listener.Addr().String() + "_" + string(uuid.NewUUID())
	ctx, cancel := context.WithCancel(context.Background())
	s.stopLoops, s.loopsDone = cancel, make(chan struct{})
	go func() {
		defer close(s.loopsDone)
		if err := controller.RunLeaderElected(ctx, cc, "berth-controller-manager", identity, buildControllers); err != nil {
			s.log.Error("controllers", "err", err)
		}
	}()
	return nil
}

// startAgent runs the built-in node agent in the background: an API client like any
// other agent, with its own node credential obtained with the node token. A failing
// agent (no containerd on this machine, say) is logged; the API keeps serving.
func (s *Server) startAgent(b *pki.Bundle) error {
	opts := s.cfg.Agent
	if opts.ClusterCIDR == "" {
		opts.ClusterCIDR = s.cfg.Controllers.ClusterCIDR
	}
	if len(opts.ClusterDNS) == 0 {
		opts.ClusterDNS = []string{s.dnsIP}
	}
	a, err := agent.New(agent.Config{
		Server: s.URL, Token: b.NodeToken, CAPEM: b.CAPEM, DataDir: s.cfg.DataDir, Options: opts,
		// The node's requests are served in process, as the node: no TLS, no sockets.
		APITransport: func(node string) http.RoundTripper {
			return apiserver.InProcessTransport(s.handler, apiserver.User{Name: apiserver.NodeUserPrefix + node, Groups: []string{apiserver.GroupNodes}})
		},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.agent, s.stopAgent, s.agentDone = a, cancel, make(chan struct{})
	go func() {
		defer close(s.agentDone)
		if err := a.Run(ctx); err != nil {
			s.log.Error("node agent stopped", "err", err)
		}
	}()
	return nil
}

// Agent is the built-in node agent (nil when disabled).
func (s *Server) Agent() *agent.Agent { return s.agent }

// startCompactor compacts storage history periodically until Stop.
func (s *Server) startCompactor() {
	interval := s.cfg.CompactInterval
	if interval == 0 {
		interval = DefaultCompactInterval
	}
	if interval < 0 {
		return
	}
	c := &compactor{store: s.store, interval: interval, log: s.log}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopCompactor, s.compactorDone = cancel, make(chan struct{})
	go func() {
		defer close(s.compactorDone)
		c.run(ctx)
	}()
}

// loopbackUser is the identity of the server's own API clients.
const loopbackUser = "system:berth-loopback"

// loopbackConfig issues an in-memory admin credential for the server's own clients.
func loopbackConfig(url string, b *pki.Bundle) (*rest.Config, error) {
	certPEM, keyPEM, err := pki.IssueClientCert(b.CA, b.CAKey, loopbackUser, []string{pki.AdminGroup}, time.Now())
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            url,
		TLSClientConfig: rest.TLSClientConfig{CAData: b.CAPEM, CertData: certPEM, KeyData: keyPEM},
		UserAgent:       "berth-controller-manager",
		QPS:             2000,
		Burst:           4000,
	}, nil
}

func (s *Server) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.store.CurrentRevision(ctx)
	return err
}

// Storage returns the server's storage backend (tests use it to inspect state).
func (s *Server) Storage() storage.Interface { return s.store }

// Stop shuts down: stop accepting, finish in-flight requests, then close storage and etcd
// (which syncs every acknowledged write).
func (s *Server) Stop() error {
	var errs []error
	if s.stopAgent != nil {
		s.stopAgent()
		<-s.agentDone
	}
	if s.stopLoops != nil {
		s.stopLoops()
		<-s.loopsDone
	}
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			_ = s.httpSrv.Close()
		}
		cancel()
	} else if s.listener != nil {
		_ = s.listener.Close()
	}
	if s.stopCompactor != nil {
		s.stopCompactor()
		<-s.compactorDone
	}
	if s.stopCaches != nil {
		s.stopCaches()
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	if s.embedded != nil {
		errs = append(errs, s.embedded.Close())
	} else if s.client != nil {
		errs = append(errs, s.client.Close())
	}
	return errors.Join(errs...)
}
